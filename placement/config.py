"""PlacementConfig: which roles share which slots, their limits, and the policy that moves them.

Cross-field rules (min <= max, known roles, initial counts that fit the slots) are checked by
`check()`, which names the key at fault; `load_placement_config` always runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from yatt.config.common import EtcdConfig, RegistrationConfig, ServerConfig
from yatt.config.loader import ConfigModel, load_config
from yatt.errors import ConfigError

# Roles a worker can host (`yatt serve ROLE`); the trainer stays fixed outside colocated mode.
KNOWN_ROLES = ("rollout", "reward", "reference", "trainer")
UNIT_SEP = "+"


class RoleLimits(ConfigModel):
    """How many slots one role may hold."""

    initial: int = Field(
        0, ge=0, description="Slots in the starting map; all zero = spread evenly over roles."
    )
    min: int = Field(1, ge=1, description="Fewest slots the role keeps (never below 1).")
    max: int | None = Field(None, ge=1, description="Most slots the role may hold; None = any.")


class PolicyConfig(ConfigModel):
    """The policy plugin by name and its own parameters (validated by the plugin's Options)."""

    name: str = Field("queue_balance", description="Registered policy name (see registry.py).")
    params: dict[str, Any] = Field(default_factory=dict, description="The policy's options.")


class EstimatorConfig(ConfigModel):
    """How per-slot service rates are measured from the published load counters."""

    window_s: float = Field(10.0, gt=0, description="Seconds of load history a rate spans.")
    busy_floor: float = Field(
        0.05, ge=0, le=1, description="Below this busy fraction an instance's rate is not measured."
    )
    prior_rates: dict[str, float] = Field(
        default_factory=dict,
        description="Requests/s one slot of a role serves, used until a rate is measured.",
    )


class PlacementConfig(ConfigModel):
    """A placement process: the slots of one job, the roles on them, and the moving policy."""

    job: str = Field(..., description="Job whose slots this process places.")
    slots: int = Field(..., ge=1, description="Worker slots 0..slots-1 to place roles on.")
    mode: Literal["disaggregated", "colocated", "partial"] = Field(
        "disaggregated",
        description="disaggregated: one role per slot; colocated: every slot hosts every "
        "role; partial: each group in `groups` shares its slots, other roles stay apart.",
    )
    groups: list[list[str]] = Field(
        default_factory=list,
        description="partial mode: roles that share slots, e.g. [[rollout, reward]].",
    )
    roles: dict[str, RoleLimits] = Field(..., description="Placed roles and their slot limits.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Moving policy.")
    estimator: EstimatorConfig = Field(
        default_factory=EstimatorConfig, description="Service-rate measurement."
    )
    tick_s: float = Field(1.0, gt=0, description="Seconds between policy evaluations.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="PlacementService gRPC.")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="Coordination store.")
    registration: RegistrationConfig = Field(
        default_factory=RegistrationConfig,
        description="Registration as role `placement` (job defaults to `job`).",
    )

    def units(self) -> dict[str, tuple[str, ...]]:
        """Placement units (what one slot is assigned) -> the roles each runs."""
        if self.mode == "colocated":
            everything = tuple(self.roles)
            return {UNIT_SEP.join(everything): everything}
        grouped = {role for group in self.groups for role in group}
        out = {UNIT_SEP.join(g): tuple(g) for g in self.groups} if self.mode == "partial" else {}
        for role in self.roles:
            if role not in grouped or self.mode != "partial":
                out[role] = (role,)
        return out

    def unit_limits(self) -> dict[str, tuple[int, int, int]]:
        """unit -> (initial, min, max). A group pools its members' initial slots; since every
        member runs on every group slot, its min is the largest member min and its max the
        smallest member max."""
        out = {}
        for unit, members in self.units().items():
            if self.mode == "colocated":
                out[unit] = (self.slots, self.slots, self.slots)
                continue
            lims = [self.roles[r] for r in members]
            maxes = [lim.max for lim in lims if lim.max is not None]
            out[unit] = (
                sum(lim.initial for lim in lims),
                max(lim.min for lim in lims),
                min([self.slots, *maxes]),
            )
        return out

    def check(self) -> None:
        """Raises ConfigError naming the key when the parts do not fit together."""
        if not self.roles:
            raise ConfigError("roles: at least one role must be placed")
        for role, lim in self.roles.items():
            if role not in KNOWN_ROLES:
                raise ConfigError(f"roles.{role}: unknown role; known: {', '.join(KNOWN_ROLES)}")
            if lim.max is not None and lim.min > lim.max:
                raise ConfigError(f"roles.{role}.min: {lim.min} > roles.{role}.max {lim.max}")
            if lim.max is not None and lim.initial > lim.max:
                raise ConfigError(
                    f"roles.{role}.initial: {lim.initial} > roles.{role}.max {lim.max}"
                )
        self._check_groups()
        for role, rate in self.estimator.prior_rates.items():
            if role not in self.roles:
                raise ConfigError(f"estimator.prior_rates.{role}: unknown role (not in roles)")
            if rate <= 0:
                raise ConfigError(f"estimator.prior_rates.{role}: must be > 0, got {rate}")
        limits = self.unit_limits()
        if self.mode != "colocated":
            need = sum(low for _, low, _ in limits.values())
            if need > self.slots:
                raise ConfigError(f"roles: minimum slots add up to {need} > slots {self.slots}")
            given = sum(initial for initial, _, _ in limits.values())
            if given and given != self.slots:
                raise ConfigError(
                    f"roles: initial slots add up to {given} but slots is {self.slots}"
                )
            for unit, (initial, low, _) in limits.items():
                if given and initial < low:
                    raise ConfigError(f"roles.{unit}.initial: {initial} < min {low}")
        from .policies.registry import build_policy

        build_policy(self.policy)  # validates the policy name and params

    def _check_groups(self) -> None:
        if self.groups and self.mode != "partial":
            raise ConfigError(f"groups: only used in partial mode (mode is {self.mode})")
        if self.mode == "partial" and not self.groups:
            raise ConfigError("groups: partial mode needs at least one group of roles")
        seen: set[str] = set()
        for i, group in enumerate(self.groups):
            if len(group) < 2:
                raise ConfigError(f"groups.{i}: a group needs at least two roles")
            for role in group:
                if role not in self.roles:
                    raise ConfigError(f"groups.{i}: unknown role {role!r} (not in roles)")
                if role in seen:
                    raise ConfigError(f"groups.{i}: role {role!r} is in two groups")
                seen.add(role)

    def registration_for_job(self) -> RegistrationConfig:
        if self.registration.job:
            return self.registration
        return self.registration.model_copy(update={"job": self.job})


def load_placement_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> PlacementConfig:
    """Loads and cross-checks a placement config; ConfigError names the key at fault."""
    cfg = load_config(PlacementConfig, path, overrides, data)
    cfg.check()
    return cfg
