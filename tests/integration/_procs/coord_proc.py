"""A separate process holding etcd state (membership, a shard claim, leadership) for tests.

Tests kill it with SIGKILL to check that what it held goes away with its lease.
Usage: python coord_proc.py {holder,claimer,candidate} --endpoint HOST:PORT ...
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from yatt import keys
from yatt.config.common import EtcdConfig
from yatt.contracts import ServiceMember
from yatt.coordination import LeaderElection, Membership, SessionLease, ShardClaims, connect


def say(line: str) -> None:
    print(line, flush=True)


async def holder(args: argparse.Namespace) -> None:
    """Registers as a member, claims shard (epoch, idx), prints READY, then lives until killed."""
    client = await connect(EtcdConfig(endpoint=args.endpoint))
    lease = SessionLease(client, args.ttl)
    lease_id = await lease.start()
    member = Membership(
        client,
        keys.member(args.job, args.role, args.instance),
        ServiceMember(endpoint="127.0.0.1:1", instance=args.instance, pid=os.getpid()).encode(),
        lease=lease,
    )
    await member.start()
    claimed = await ShardClaims(client, args.job, args.instance, lease).try_claim(
        args.epoch, args.idx
    )
    say(f"READY lease={lease_id:x} claimed={claimed}")
    await asyncio.Event().wait()


async def claimer(args: argparse.Namespace) -> None:
    """Prints ARMED, waits for the go key to appear, races try_claim, prints RESULT won|lost."""
    client = await connect(EtcdConfig(endpoint=args.endpoint))
    lease = SessionLease(client, args.ttl)
    await lease.start()
    claims = ShardClaims(client, args.job, args.instance, lease)
    go = args.go_key.encode()
    watch = await client.watch(go)
    say("ARMED")
    if await client.get(go) is None:
        async for _ in watch:
            break
    won = await claims.try_claim(args.epoch, args.idx)
    say(f"RESULT {'won' if won else 'lost'}")
    await asyncio.Event().wait()


async def candidate(args: argparse.Namespace) -> None:
    """Campaigns for the election key, prints LEADER once elected, then lives until killed."""
    client = await connect(EtcdConfig(endpoint=args.endpoint))
    lease = SessionLease(client, args.ttl)
    await lease.start()
    election = LeaderElection(client, args.key, args.instance, lease)
    await election.campaign()
    say("LEADER")
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["holder", "claimer", "candidate"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--job", default="job")
    parser.add_argument("--role", default="rollout")
    parser.add_argument("--instance", default="proc")
    parser.add_argument("--ttl", type=int, default=2)
    parser.add_argument("--epoch", type=int, default=0)
    parser.add_argument("--idx", type=int, default=0)
    parser.add_argument("--go-key", default="/test/go")
    parser.add_argument("--key", default="/test/leader")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run({"holder": holder, "claimer": claimer, "candidate": candidate}[args.mode](args))


if __name__ == "__main__":
    main()
