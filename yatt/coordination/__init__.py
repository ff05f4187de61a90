"""etcd coordination: the process lease, membership, discovery, shard claims, leader election.

Everything shared between yatt processes goes through these; see DESIGN.md "etcd key space".
"""

from yatt.coordination.claims import ShardClaims, ShardState, decode_shard, encode_shard
from yatt.coordination.client import connect, make_client
from yatt.coordination.discovery import RoleDirectory
from yatt.coordination.election import LeaderElection
from yatt.coordination.lease import SessionLease
from yatt.coordination.membership import Membership

__all__ = [
    "LeaderElection",
    "Membership",
    "RoleDirectory",
    "SessionLease",
    "ShardClaims",
    "ShardState",
    "connect",
    "decode_shard",
    "encode_shard",
    "make_client",
]
