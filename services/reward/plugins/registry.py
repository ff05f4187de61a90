"""Finds reward plugins by name: the built-in table extended (or overridden) by entry points.

Other packages add a function with one line in their pyproject, group `yatt.rewards`.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from yatt.config.loader import load_config
from yatt.errors import ConfigError

from .base import FunctionSpec, RewardContext, RewardFunction

GROUP = "yatt.rewards"

# The built-ins, also declared as entry points in pyproject; the table keeps them
# available in a checkout whose installed metadata predates a new plugin.
BUILTINS: dict[str, str] = {
    "exact_answer": "yatt.services.reward.plugins.exact_answer:ExactAnswer",
    "regex_format": "yatt.services.reward.plugins.regex_format:RegexFormat",
    "length_penalty": "yatt.services.reward.plugins.length_penalty:LengthPenalty",
    "reward_model": "yatt.services.reward.plugins.reward_model:RewardModel",
    "judge": "yatt.services.reward.plugins.judge:Judge",
    "weighted_sum": "yatt.services.reward.plugins.weighted_sum:WeightedSum",
    "sim": "yatt.services.reward.plugins.sim:SimReward",
}


def known() -> dict[str, str]:
    """Plugin name -> "module:attr"; entry points override or extend the built-ins."""
    table = dict(BUILTINS)
    # yatt's own entry points first, so another package's plugin of the same name wins.
    points = sorted(
        entry_points(group=GROUP), key=lambda ep: ep.dist is None or ep.dist.name != "yatt"
    )
    for ep in points:
        table[ep.name] = ep.value
    return table


def load_plugin(name: str, key: str = "name") -> type[RewardFunction]:
    """The plugin class registered under name; ConfigError listing the known names otherwise."""
    table = known()
    if name not in table:
        raise ConfigError(
            f"{key}: unknown reward function {name!r}; known: {', '.join(sorted(table))}"
        )
    try:
        obj = EntryPoint(name=name, value=table[name], group=GROUP).load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{key}: reward function {name!r} ({table[name]}) failed to load: {exc}"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, RewardFunction)):
        raise ConfigError(f"{key}: {table[name]} is not a RewardFunction subclass")
    return obj


def build(spec: FunctionSpec, context: RewardContext, key: str = "functions.0") -> RewardFunction:
    """Instantiates one configured function; key is its config path, used in every error."""
    cls = load_plugin(spec.name, f"{key}.name")
    try:
        options = load_config(cls.Options, data=spec.options)
    except ConfigError as exc:
        raise ConfigError(f"{key}.options: {exc}") from None
    try:
        return cls(options, context)
    except ConfigError as exc:
        # Plugins name keys relative to their spec ("options.pattern"); prefix the spec's path.
        raise ConfigError(f"{key}.{exc}") from None
