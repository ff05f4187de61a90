"""The member records each role publishes under keys.member(job, role, instance), one class each.

Services registered through yatt.rpc.app share ServiceMember's fields (Registration fills them)
and add their own; workers and controllers write their records themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yatt.contracts.record import Record
from yatt.contracts.worker_state import WorkerState


@dataclass(frozen=True, kw_only=True)
class ServiceMember(Record):
    """What every registered service publishes; a role without its own record decodes as this."""

    what = "member"

    endpoint: str = ""  # host:port of its gRPC server
    role: str = ""
    instance: str = ""
    slot: int | None = None  # the worker slot it runs on (placement), if any
    pid: int = 0
    load: dict[str, float] = field(default_factory=dict)  # AdmissionGate's LoadSnapshot
    metrics_endpoint: str | None = None  # host:port of /metrics, when exported


@dataclass(frozen=True, kw_only=True)
class RolloutMember(ServiceMember):
    engine: str = ""
    model: str = ""
    weight_version: int = 0  # the version it serves now
    host_id: str = ""  # equal host ids: the trainer may hand weights over shared memory
    weight_transports: list[str] = field(default_factory=lambda: ["grpc"])


@dataclass(frozen=True, kw_only=True)
class TrainerMember(ServiceMember):
    step: int = 0
    weight_version: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # headline numbers of the last step
    acked: dict[str, int] = field(default_factory=dict)  # rollout instance -> version it loaded
    weight_transports: dict[str, str] = field(default_factory=dict)  # instance -> transport used
    # What this trainer can run, checked against a job's algorithm at submission: "critic".
    capabilities: dict[str, bool] = field(default_factory=dict)
    # Where the next step stands, so controllers start only shards it can still train in time.
    pending_samples: int = 0
    global_batch_samples: int = 0


@dataclass(frozen=True, kw_only=True)
class RewardMember(ServiceMember):
    functions: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ReferenceMember(ServiceMember):
    model: str = ""


@dataclass(frozen=True, kw_only=True)
class PlacementMember(ServiceMember):
    leader: bool = False
    candidate: str = ""


@dataclass(frozen=True, kw_only=True)
class ControllerMember(Record):
    """A controller's own record (it serves no RPC, so it has no endpoint)."""

    what = "controller member"

    in_flight: int = 0  # shards it drives now
    done: int = 0  # shards it finished since it started


@dataclass(frozen=True, kw_only=True)
class WorkerMember(Record):
    """A worker slot: what it was assigned, what it runs, and in which state."""

    what = "worker member"

    slot: int | None = None
    role: str | None = None  # the unit it runs now (None: nothing)
    assigned: str | None = None  # the unit placement wants on this slot
    state: WorkerState = WorkerState.IDLE
    endpoints: dict[str, str] = field(default_factory=dict)  # role -> endpoint of each child
    endpoint: str | None = None
    children: dict[str, int] = field(default_factory=dict)  # role -> pid of each child
    pid: int = 0
    error: str = ""
    since: float = 0.0  # when it entered this state (epoch seconds)

    def serving(self) -> str | None:
        """The unit this slot serves now, or None while it is not SERVING."""
        return self.role if self.state == WorkerState.SERVING else None


_SERVICE_RECORDS: dict[str, type[ServiceMember]] = {
    "rollout": RolloutMember,
    "trainer": TrainerMember,
    "reward": RewardMember,
    "reference": ReferenceMember,
    "placement": PlacementMember,
}


def service_record(role: str) -> type[ServiceMember]:
    """The record class of a service role ("reward-judge" is a reward role)."""
    return _SERVICE_RECORDS.get(role, _SERVICE_RECORDS.get(role.split("-")[0], ServiceMember))


def decode_member(role: str, data: bytes, what: str | None = None) -> Record:
    """Any member record, by the role in its key."""
    if role == "worker":
        return WorkerMember.decode(data, what)
    if role == "controller":
        return ControllerMember.decode(data, what)
    return service_record(role).decode(data, what)
