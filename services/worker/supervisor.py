"""The worker supervisor: follow the slot's assignment in etcd and run its role as a child.

A role change SIGTERMs the child (the shared runtime drains: deregister, NOT_SERVING, finish
in-flight), waits for it to exit so its memory is freed, then starts the new role's child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import aetcd

from yatt import keys
from yatt.config.loader import format_overrides
from yatt.contracts import WorkerMember, WorkerState
from yatt.coordination.assignments import decode_assignment
from yatt.coordination.client import ETCD_ERRORS
from yatt.coordination.membership import Membership
from yatt.coordination.watch import follow
from yatt.errors import InvalidArgument
from yatt.placement.leader import WORKER_ROLE, worker_instance
from yatt.placement.state import roles_of
from yatt.process.registry import command

from .child import ChildFailed, ChildService
from .config import WorkerConfig

log = logging.getLogger(__name__)

# A child that served this long before crashing restarts without accumulated backoff.
HEALTHY_UPTIME_S = 30.0


class WorkerSupervisor:
    """Follows one slot's assignment; its state is a WorkerState, published as a WorkerMember."""

    def __init__(self, cfg: WorkerConfig, client: aetcd.Client) -> None:
        self.cfg = cfg
        self.client = client
        self.desired: str | None = None
        self.unit: str | None = None
        self.state = WorkerState.IDLE
        self.error = ""
        self.children: dict[str, ChildService] = {}
        self._failures: dict[str, int] = {}
        self._known = asyncio.Event()
        self._changed = asyncio.Event()
        self._since = time.time()
        self.status = Membership(
            client,
            keys.member(cfg.job, WORKER_ROLE, worker_instance(cfg.slot)),
            self._status_value,
            cfg.etcd.lease_ttl_s,
        )

    # -- status in etcd ----------------------------------------------------------------------

    def _status_value(self) -> bytes:
        endpoints = {r: c.endpoint for r, c in self.children.items() if c.endpoint and c.alive()}
        return WorkerMember(
            slot=self.cfg.slot,
            role=self.unit,
            assigned=self.desired,
            state=self.state,
            endpoints=endpoints,
            endpoint=next(iter(endpoints.values()), None),
            children={r: pid for r, c in self.children.items() if c.alive() and (pid := c.pid)},
            pid=os.getpid(),
            error=self.error,
            since=self._since,
        ).encode()

    async def _set_state(self, state: WorkerState, error: str = "") -> None:
        self.state, self.error, self._since = state, error, time.time()
        with contextlib.suppress(*ETCD_ERRORS):
            await self.status.update(self._status_value)
        unit = self.unit or "-"
        print(f"yatt worker slot {self.cfg.slot} {state.value} {unit}", flush=True)

    # -- following the assignment ------------------------------------------------------------

    def _set_desired(self, unit: str | None) -> None:
        if unit != self.desired or not self._known.is_set():
            log.info("slot %d assigned %s", self.cfg.slot, unit)
        self.desired = unit
        self._known.set()
        self._changed.set()

    @staticmethod
    def _decode(value: bytes) -> str | None:
        try:
            return decode_assignment(value)
        except InvalidArgument as exc:
            log.error("unreadable assignment: %s", exc)
            return None

    async def _watch_assignment(self) -> None:
        async def on_listing(listing: list[aetcd.KeyValue]) -> None:
            self._set_desired(self._decode(listing[0].value) if listing else None)

        async def on_event(event: aetcd.Event) -> None:
            put = event.kind == aetcd.EventKind.PUT
            self._set_desired(self._decode(event.kv.value) if put else None)

        await follow(self.client, keys.assign(self.cfg.job, self.cfg.slot), on_listing, on_event)

    # -- children ----------------------------------------------------------------------------

    def _child_for(self, role: str) -> ChildService:
        spec = self.cfg.roles[role]
        wiring = format_overrides(
            {
                "registration.job": self.cfg.job,
                "registration.slot": self.cfg.slot,
                "etcd.endpoint": self.cfg.etcd.endpoint,
                "etcd.lease_ttl_s": self.cfg.etcd.lease_ttl_s,
            }
        )
        argv = command(role, spec.config, [*wiring, *spec.overrides], python=self.cfg.python)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        if self.cfg.device == "cuda":
            device = self.cfg.cuda_device if self.cfg.cuda_device is not None else self.cfg.slot
            env["CUDA_VISIBLE_DEVICES"] = str(device)
        prefix = f"[slot {self.cfg.slot} {role}] " if self.cfg.forward_output else None
        return ChildService(role, argv, env, prefix)

    async def _start_role(self, role: str) -> bool:
        child = self._child_for(role)
        self.children[role] = child
        try:
            await child.start(self.cfg.roles[role].start_timeout_s)
            return True
        except ChildFailed as exc:
            self._failures[role] = self._failures.get(role, 0) + 1
            log.error("slot %d: %s failed to start: %s", self.cfg.slot, role, exc)
            await child.stop(self.cfg.stop_timeout_s)
            self.children.pop(role, None)
            return False

    async def _stop_children(self) -> None:
        children, self.children = list(self.children.values()), {}
        await asyncio.gather(*(c.stop(self.cfg.stop_timeout_s) for c in children))

    def _backoff(self, roles: list[str]) -> float:
        n = max((self._failures.get(r, 0) for r in roles), default=0)
        if n == 0:
            return 0.0
        return min(self.cfg.restart_backoff_max_s, self.cfg.restart_backoff_s * 2 ** (n - 1))

    # -- the reconcile loop ------------------------------------------------------------------

    async def _switch(self, unit: str | None) -> None:
        if self.children:
            await self._set_state(WorkerState.DRAINING)
            await self._stop_children()
        self.unit, self._failures = unit, {}
        if unit is None:
            await self._set_state(WorkerState.IDLE)
            return
        unknown = [r for r in roles_of(unit) if r not in self.cfg.roles]
        if unknown:
            await self._set_state(WorkerState.ERROR, f"no config for role(s) {', '.join(unknown)}")
            return
        await self._set_state(WorkerState.STARTING)
        for role in roles_of(unit):
            await self._start_role(role)
        await self._settle()

    async def _settle(self) -> None:
        assert self.unit is not None
        ok = all(r in self.children and self.children[r].alive() for r in roles_of(self.unit))
        await self._set_state(WorkerState.SERVING if ok else WorkerState.RESTARTING)

    async def _repair(self, stop: asyncio.Event) -> None:
        """Restarts the unit's dead or never-started children, after a backoff."""
        assert self.unit is not None
        broken = [
            r for r in roles_of(self.unit) if r not in self.children or not self.children[r].alive()
        ]
        for role in broken:
            child = self.children.get(role)
            if child is not None and child.returncode is not None:
                uptime = child.uptime()
                log.error(
                    "slot %d: %s exited (%s) after %.0fs",
                    self.cfg.slot,
                    role,
                    child.returncode,
                    uptime,
                )
                if uptime >= HEALTHY_UPTIME_S:
                    self._failures[role] = 0
                self._failures[role] = self._failures.get(role, 0) + 1
                self.children.pop(role)
        if self.state != WorkerState.RESTARTING:
            await self._set_state(WorkerState.RESTARTING)
        delay = self._backoff(broken)
        self._changed.clear()
        await _first(stop.wait(), self._changed.wait(), timeout=delay)
        if stop.is_set() or self.desired != self.unit:
            return
        for role in broken:
            await self._start_role(role)
        await self._settle()

    def _needs_repair(self) -> bool:
        if self.unit is None or self.state == WorkerState.ERROR:
            return False
        return any(
            r not in self.children or not self.children[r].alive() for r in roles_of(self.unit)
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Follows the assignment until `stop` is set; then stops the children and deregisters."""
        await self.status.start()
        watcher = asyncio.create_task(self._watch_assignment(), name="assignment-watch")
        try:
            await _first(stop.wait(), self._known.wait())
            while not stop.is_set():
                self._changed.clear()
                if self.desired != self.unit:
                    await self._switch(self.desired)
                elif self._needs_repair():
                    await self._repair(stop)
                else:
                    exits = [c.wait() for c in self.children.values()]
                    await _first(stop.wait(), self._changed.wait(), *exits)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.state = WorkerState.STOPPING
            await self._stop_children()
            await self.status.stop()


async def _first(*aws: Any, timeout: float | None = None) -> None:
    """Waits until the first of the awaitables finishes (or timeout); cancels the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
