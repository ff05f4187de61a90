"""Calls one RPC of a fuzzed service with a deadline, records the status code, and fails with the
input and the service's log tail when the code is improper or the process died."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from conftest import SKIPPED, Service, rss_bytes
from hypothesis import HealthCheck

from yatt.testing.fuzz import PROPER_CODES

DEADLINE_S = float(os.environ.get("YATT_FUZZ_DEADLINE_S", "10"))
# Most messages read from one server stream; a stream longer than this is itself a finding.
MAX_STREAM_ITEMS = 100_000


# Shared by every fuzz module: fuzz calls are real RPCs, so no per-example deadline.
SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _show(request: Any) -> str:
    text = repr(request) if not hasattr(request, "ListFields") else str(request)
    return text if len(text) < 3000 else text[:3000] + f"... ({len(text)} chars)"


def call(
    service: Service,
    rpc: str,
    method: Callable[..., Any],
    request: Any,
    *,
    stream_reply: bool = False,
    timeout: float = DEADLINE_S,
    forbid: Iterable[grpc.StatusCode] = (),
) -> tuple[grpc.StatusCode, Any]:
    """Runs method(request, timeout=...) and returns (code, reply or the list of streamed replies)."""
    if request is None:  # garbage that protobuf refused to decode client-side
        SKIPPED[f"{service.name}.{rpc}"] += 1
        return grpc.StatusCode.OK, None
    start = time.monotonic()
    reply: Any = None
    try:
        if stream_reply:
            reply = []
            for item in method(request, timeout=timeout):
                reply.append(item)
                if len(reply) > MAX_STREAM_ITEMS:
                    raise AssertionError(f"{rpc}: more than {MAX_STREAM_ITEMS} streamed replies")
        else:
            reply = method(request, timeout=timeout)
        code, detail = grpc.StatusCode.OK, ""
    except grpc.RpcError as err:
        code, detail = err.code(), err.details() or ""
    service.record(rpc, code, detail)
    took = time.monotonic() - start
    problem = None
    if code not in PROPER_CODES:
        problem = f"improper status {code.name}: {detail!r}"
    elif code in set(forbid):
        problem = f"status {code.name} not expected here: {detail!r} after {took:.1f}s"
    elif not service.proc.alive():
        problem = f"process exited ({service.proc.returncode})"
    if problem:
        raise AssertionError(
            f"{service.name}.{rpc}: {problem}\ninput: {_show(request)}\n"
            f"--- {service.name} log tail ---\n{service.log_tail()}"
        )
    return code, reply


def assert_alive_and_bounded(service: Service, answer: Callable[[], Any], bound_mb: float) -> str:
    """The process lives, answers a valid call, and its RSS grew less than bound_mb since idle."""
    assert service.proc.alive(), f"{service.name} died:\n{service.log_tail()}"
    answer()
    grown = (rss_bytes(service.proc.pid) - service.rss_idle) / 2**20
    line = (
        f"{service.name}: alive, answers; RSS idle {service.rss_idle / 2**20:.0f} MiB, "
        f"after fuzz {grown:+.0f} MiB (bound {bound_mb:.0f})"
    )
    assert grown < bound_mb, line + "\n" + service.log_tail()
    return line


def echo_requests() -> Any:
    """EchoRequests: random, garbage-decoded, or built around right/wrong tensors. hold_s is kept
    under 50 ms (a long hold only waits out the deadline; test_echo_hold_is_cancelled covers it)."""

    from hypothesis import strategies as st

    from yatt.protos import diagnostics_pb2
    from yatt.testing.fuzz import edge_floats, garbage, messages, wire_tensors

    built = st.builds(diagnostics_pb2.EchoRequest, tensor=wire_tensors(), hold_s=edge_floats())

    def tame(req: Any) -> Any:
        if req is not None and 0.05 < req.hold_s <= 10:  # longer ones are refused at once
            req.hold_s = 0.01
        return req

    return st.one_of(
        built, messages(diagnostics_pb2.EchoRequest), garbage(diagnostics_pb2.EchoRequest)
    ).map(tame)


def echo(service: Service, request: Any) -> None:
    from yatt.protos import diagnostics_pb2_grpc

    stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(service.channel)
    call(service, "Echo", stub.Echo, request, forbid=[grpc.StatusCode.DEADLINE_EXCEEDED])


def echo_hold_is_cancelled(service: Service) -> None:
    """An endless hold is refused at once; a long one ends at the caller's deadline; the server
    goes on answering."""
    from yatt.protos import common_pb2, diagnostics_pb2, diagnostics_pb2_grpc

    stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(service.channel)
    tensor = common_pb2.Tensor(dtype="float32", shape=[1], data=b"\0\0\x80?")
    for hold, expected in [
        (float("inf"), grpc.StatusCode.INVALID_ARGUMENT),
        (1e300, grpc.StatusCode.INVALID_ARGUMENT),
        (5.0, grpc.StatusCode.DEADLINE_EXCEEDED),
    ]:
        code, _ = call(
            service,
            "Echo",
            stub.Echo,
            diagnostics_pb2.EchoRequest(tensor=tensor, hold_s=hold),
            timeout=0.3,
        )
        assert code == expected, (hold, code)
    code, reply = call(service, "Echo", stub.Echo, diagnostics_pb2.EchoRequest(tensor=tensor))
    assert code == grpc.StatusCode.OK and reply.sum == 1.0


def ready(service: Service, warmup: Callable[[], Any]) -> Service:
    """First use in the session: one valid call, then the idle RSS the memory bound is against."""
    if not service.rss_idle:
        warmup()
        service.rss_idle = rss_bytes(service.proc.pid)
    return service


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB: catches allocations already freed."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")
