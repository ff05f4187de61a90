"""Jobs in etcd: submit (validate, write the config, publish shard references) and read progress.

Used by `yatt train` and `yatt status`; controllers read what this writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aetcd
import yaml

from yatt import keys
from yatt.config import dump_config
from yatt.contracts import Record, TrainerMember, WorkerMember, decode_member
from yatt.controller.config import JobConfig
from yatt.controller.dataset import PromptDataset
from yatt.coordination.assignments import decode_assignment, slot_of
from yatt.coordination.claims import decode_shard, publish_shards
from yatt.coordination.jobstate import job_state, set_job_state
from yatt.errors import ConfigError

# Members that are not model-serving roles (left out of JobProgress.roles).
SUPPORT_ROLES = ("controller", "trainer", "worker", "placement")


async def registered(client: aetcd.Client, job: str, role: str) -> dict[str, Record]:
    """instance -> member record of one role."""
    prefix = keys.members_prefix(job, role)
    found = await client.get_prefix(prefix.encode())
    return {
        (instance := kv.key.decode()[len(prefix) :]): decode_member(role, kv.value, instance)
        for kv in found
    }


async def submit(client: aetcd.Client, job: JobConfig, *, check_roles: bool = True) -> int:
    """Validates data and roles, writes the config and every epoch's shards; returns shard count.

    Re-submitting the same config continues the job (existing shards keep their state);
    a different config under the same job name is refused.
    """
    dataset = PromptDataset(job.data)
    dataset.validate()
    if check_roles:
        for role in job.required_roles():
            if not await registered(client, job.job, role):
                where = "rewards[].role" if role in {r.role for r in job.rewards} else role
                raise ConfigError(
                    f"{where}: no {role!r} instance is registered for job {job.job!r} "
                    f"(start one with `yatt serve {role.split('-')[0]} --set registration.job={job.job}`)"
                )
    await check_trainer_can_run(client, job)
    text = dump_config(job)
    existing = await client.get(keys.config(job.job).encode())
    if existing is not None and yaml.safe_load(existing.value.decode()) != yaml.safe_load(text):
        raise ConfigError(f"job: {job.job!r} already exists with a different config")
    await client.put(keys.config(job.job).encode(), text.encode())
    refs = dataset.shard_refs()
    for epoch in range(job.data.epochs):
        await publish_shards(client, job.job, epoch, [{**r, "epoch": epoch} for r in refs])
    if (await job_state(client, job.job))["state"] != "done":
        await set_job_state(client, job.job, "running")
    return len(refs) * job.data.epochs


async def check_trainer_can_run(client: aetcd.Client, job: JobConfig) -> None:
    """ConfigError when a trainer registered for the job lacks what its algorithm needs (the
    capabilities each trainer publishes in its member info)."""
    if not job.algorithm.needs_critic:
        return
    for instance, info in (await registered(client, job.job, "trainer")).items():
        if not (isinstance(info, TrainerMember) and info.capabilities.get("critic", False)):
            raise ConfigError(
                f"algorithm.name: {job.algorithm.name} needs a critic, but trainer {instance!r} "
                f"of job {job.job!r} has none (start it with critic.kind value_head or separate)"
            )


@dataclass
class JobProgress:
    """Where a job stands, read from etcd in one pass."""

    state: str
    reason: str
    shards_total: int
    shards_done: int
    shards_claimed: int
    samples: int
    reward_by_shard: list[float] = field(default_factory=list)
    trainer: TrainerMember = field(default_factory=TrainerMember)
    controllers: int = 0
    roles: dict[str, int] = field(default_factory=dict)
    # Placement on: slot -> assigned unit, and slot -> what its worker runs now (None: idle).
    slots: dict[int, str] = field(default_factory=dict)
    serving: dict[int, str | None] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


async def read_progress(client: aetcd.Client, job: str) -> JobProgress:
    state = await job_state(client, job)
    shards = await client.get_prefix(keys.shards_prefix(job).encode())
    claims = await client.get_prefix(keys.claims_prefix(job).encode())
    decoded = [decode_shard(kv.value) for kv in shards]
    done = [s for s in decoded if not s.pending]
    done.sort(key=lambda s: s.stats.get("finished_at", 0.0))
    members = await client.get_prefix(keys.members_prefix(job).encode())
    roles: dict[str, int] = {}
    serving: dict[int, str | None] = {}
    for kv in members:
        role = kv.key.decode()[len(keys.members_prefix(job)) :].split("/", 1)[0]
        roles[role] = roles.get(role, 0) + 1
        if role == "worker":
            worker = WorkerMember.decode(kv.value)
            if worker.slot is not None:
                serving[worker.slot] = worker.serving()
    assigned = await client.get_prefix(keys.assign_prefix(job).encode())
    slots = {}
    for kv in assigned:
        slot, unit = slot_of(kv.key), decode_assignment(kv.value)
        if slot is not None and unit is not None:
            slots[slot] = unit
    trainers = await registered(client, job, "trainer")
    return JobProgress(
        state=state.get("state", "running"),
        reason=state.get("reason", ""),
        shards_total=len(decoded),
        shards_done=len(done),
        shards_claimed=len(claims),
        samples=sum(int(s.stats.get("samples", 0)) for s in done),
        reward_by_shard=[s.stats["reward_mean"] for s in done if "reward_mean" in s.stats],
        trainer=next(
            (t for t in trainers.values() if isinstance(t, TrainerMember)), TrainerMember()
        ),
        controllers=roles.get("controller", 0),
        roles={r: n for r, n in sorted(roles.items()) if r not in SUPPORT_ROLES},
        slots=dict(sorted(slots.items())),
        serving=serving,
    )
