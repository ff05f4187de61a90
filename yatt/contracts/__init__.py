"""What one process tells another outside an RPC: typed records in etcd and the states they name.

A core package: it knows the codec and the errors, and no process package.
"""

from yatt.contracts.members import (
    ControllerMember,
    PlacementMember,
    ReferenceMember,
    RewardMember,
    RolloutMember,
    ServiceMember,
    TrainerMember,
    WorkerMember,
    decode_member,
    service_record,
)
from yatt.contracts.record import ContractError, Record
from yatt.contracts.worker_state import WorkerState

__all__ = [
    "ContractError",
    "ControllerMember",
    "PlacementMember",
    "Record",
    "ReferenceMember",
    "RewardMember",
    "RolloutMember",
    "ServiceMember",
    "TrainerMember",
    "WorkerMember",
    "WorkerState",
    "decode_member",
    "service_record",
]
