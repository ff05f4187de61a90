"""Prometheus metrics of every yatt process: the metric objects, their config and the exporter.

One module holds every metric so names stay consistent across services, the controller and
placement; a process exposes them over HTTP only when `metrics.port` is set.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

from yatt.config.common import MetricsConfig
from yatt.contracts import RolloutMember, ServiceMember, TrainerMember

log = logging.getLogger(__name__)

__all__ = ["MetricsConfig", "MetricsExporter", "start_exporter"]

# RPCs span milliseconds (reward rules) to minutes (a long Generate or a ZeRO-3 step).
RPC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
STAGES = ("generate", "score", "reference", "push")


# -- services (every ServiceRuntime; `service` is the runtime's name, i.e. the role) ---------

RPC_LATENCY = Histogram(
    "yatt_rpc_latency_seconds",
    "Server-side RPC duration by method and final status code (admission wait included).",
    ["service", "method", "code"],
    buckets=RPC_BUCKETS,
)
RPC_REFUSED = Counter(
    "yatt_rpc_refused_total",
    "RPCs refused by admission: queue_full (RESOURCE_EXHAUSTED) or draining (UNAVAILABLE).",
    ["service", "reason"],
)
QUEUE_DEPTH = Gauge(
    "yatt_queue_depth", "RPCs waiting for a slot plus work queued inside the core.", ["service"]
)
IN_FLIGHT = Gauge("yatt_in_flight", "RPCs executing now.", ["service"])
TOKENS = Counter("yatt_tokens_total", "Tokens processed (generated, scored, trained).", ["service"])
TOKENS_PER_S = Gauge(
    "yatt_tokens_per_second", "Tokens/s over the last load-publishing window.", ["service"]
)
BUSY_FRACTION = Gauge(
    "yatt_busy_fraction", "Share of the last window with at least one RPC running.", ["service"]
)
WEIGHT_VERSION = Gauge(
    "yatt_weight_version",
    "Policy weight version this process holds (rollout, trainer).",
    ["service"],
)
TRAINER_STEP = Gauge("yatt_trainer_step", "Optimizer steps taken.", ["service"])

# -- placement ---------------------------------------------------------------------------------

PLACEMENT_MOVES = Counter(
    "yatt_placement_moves_total",
    "Slot moves applied by this leader.",
    ["job", "from_role", "to_role"],
)
PLACEMENT_LEADER = Gauge("yatt_placement_leader", "1 while this process leads placement.", ["job"])

# -- controller --------------------------------------------------------------------------------

SHARDS = Counter(
    "yatt_controller_shards_total",
    "Shards finished by this controller: done, failed, or released (given back to retry).",
    ["job", "outcome"],
)
SAMPLES = Counter("yatt_controller_samples_total", "Samples pushed to the trainer.", ["job"])
SAMPLES_PER_S = Gauge(
    "yatt_controller_samples_per_second",
    "Samples pushed per second since the controller started.",
    ["job"],
)
STAGE_LATENCY = Histogram(
    "yatt_controller_stage_seconds",
    "Duration of one shard stage: generate, score, reference, push.",
    ["job", "stage"],
    buckets=STAGE_BUCKETS,
)
REROLLS = Counter(
    "yatt_controller_rerolls_total",
    "Shards sampled again because the trainer refused them as too stale.",
    ["job"],
)
SHARDS_IN_FLIGHT = Gauge("yatt_controller_shards_in_flight", "Shards being driven now.", ["job"])


def bind_gauge(
    gauge: Gauge, labels: tuple[str, ...], owner: Any, read: Callable[[Any], float]
) -> None:
    """The gauge reads read(owner) at scrape time; a weak reference so it never keeps owner alive."""
    ref = weakref.ref(owner)

    def value() -> float:
        obj = ref()
        return float(read(obj)) if obj is not None else 0.0

    gauge.labels(*labels).set_function(value)


def bind_member_info(service: str, member_info: Callable[[], ServiceMember]) -> None:
    """Weight version and step are read from the same member record published to etcd."""

    def field(name: str) -> Callable[[], float]:
        def value() -> float:
            try:
                return float(getattr(member_info(), name, -1))
            except Exception:  # a scrape must never fail because of a half-built service
                return -1.0

        return value

    try:
        record: ServiceMember | None = member_info()
    except Exception:
        record = None
    if isinstance(record, RolloutMember | TrainerMember):
        WEIGHT_VERSION.labels(service).set_function(field("weight_version"))
    if isinstance(record, TrainerMember):
        TRAINER_STEP.labels(service).set_function(field("step"))


class MetricsExporter:
    """The /metrics HTTP endpoint of this process (a daemon thread of prometheus_client)."""

    def __init__(self, server: Any, host: str) -> None:
        self._server = server
        self.endpoint = f"{host}:{server.server_port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_exporter(cfg: MetricsConfig, advertise_host: str | None = None) -> MetricsExporter | None:
    """Serves /metrics when cfg.port is set (0 = a free port); None when metrics are off."""
    if cfg.port is None:
        return None
    server, _thread = start_http_server(cfg.port, addr=cfg.host, registry=REGISTRY)
    host = advertise_host or cfg.host
    exporter = MetricsExporter(server, host)
    log.info("metrics on %s", exporter.url)
    return exporter
