"""A real rollout process loading versions by manifest over shm: bit-exact, atomic, and bad
manifests refused while the instance keeps serving (identical outputs) the version it has."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from transport_helpers import JOB, endpoint_of, local_greedy, remote_greedy, rollout_process, scaled

from yatt.protos import rollout_pb2, rollout_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.rollout.convert import manifest_to_proto
from yatt.transport.grpc import GrpcSender
from yatt.transport.shm import ShmSender

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def rollout(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = rollout_process(tiny_model, tmp_path_factory.mktemp("r") / "rollout.yaml")
    try:
        yield endpoint_of(proc)
    finally:
        proc.stop()


async def expect(call, code: grpc.StatusCode, match: str) -> None:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    assert match in (err.value.details() or ""), err.value.details()


async def test_shm_then_grpc_versions_are_bit_exact_and_bad_manifests_change_nothing(
    rollout: str, engine
) -> None:  # noqa: ANN001
    sender = ShmSender(JOB)
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    try:
        async with make_channel(rollout) as channel:
            stub = rollout_pb2_grpc.RolloutServiceStub(channel)

            async def send(m):  # noqa: ANN001, ANN202
                return await stub.LoadWeightsFromManifest(manifest_to_proto(m), timeout=60)

            base = await remote_greedy(stub)
            w2 = scaled(engine, 2.0)
            m1 = sender.publish(1, w2)
            reply = await send(m1)
            assert (reply.version, reply.tensors, reply.bytes) == (1, len(w2), m1.nbytes)
            served = await remote_greedy(stub)
            assert served == local_greedy(engine, w2)  # tokens and float log-probs, exactly
            assert served != base

            # Every refusal below leaves version 1 in place, serving the same outputs.
            w3 = scaled(engine, 3.0)
            m2 = sender.publish(2, w3)
            await expect(send(dataclasses.replace(m2, checksum="xxh3_64:" + "0" * 16)), invalid,
                         "does not match the manifest")  # fmt: skip
            await expect(send(dataclasses.replace(m2, total_bytes=m2.total_bytes + 64)), invalid,
                         "manifest says")  # fmt: skip
            await expect(send(dataclasses.replace(m2, handle=f"{sender.prefix}v77")), invalid,
                         "does not exist")  # fmt: skip
            # The model's dtype differs in the LAST tensor (same byte size): refused whole.
            last = m2.entries[-1]
            as_int = dataclasses.replace(last, dtype="int32")
            await expect(send(dataclasses.replace(m2, entries=(*m2.entries[:-1], as_int))),
                         invalid, f"tensor {last.name!r}: got int32")  # fmt: skip
            # A manifest missing a tensor.
            await expect(send(dataclasses.replace(m2, entries=m2.entries[:-1])), invalid,
                         "missing 1 tensors")  # fmt: skip
            await expect(send(dataclasses.replace(m2, transport="pigeon")), invalid,
                         "does not load from a manifest")  # fmt: skip
            info = await stub.Info(rollout_pb2.InfoRequest(), timeout=10)
            assert info.policy_version == 1
            assert await remote_greedy(stub) == served

            # Old or equal versions: FAILED_PRECONDITION, over either transport.
            await expect(
                send(m1), grpc.StatusCode.FAILED_PRECONDITION, "not newer than the served 1"
            )
            grpc_sender = GrpcSender(1 << 16)
            old = grpc_sender.publish(1, w3)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await grpc_sender.send(rollout, old, w3, timeout_s=60, max_message_bytes=1 << 26)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

            # The good version 2 over shm, then version 3 over grpc: both bit-exact.
            assert (await send(m2)).version == 2
            assert await remote_greedy(stub) == local_greedy(engine, w3)
            w4 = scaled(engine, 0.5)
            delivery = await grpc_sender.send(
                rollout, grpc_sender.publish(3, w4), w4, timeout_s=60, max_message_bytes=1 << 26
            )
            assert delivery.version == 3
            assert await remote_greedy(stub) == local_greedy(engine, w4)
    finally:
        sender.close()


async def test_one_segment_serves_several_instances(
    tiny_model: Path, rollout: str, engine, tmp_path: Path
) -> None:  # noqa: ANN001
    second = rollout_process(tiny_model, tmp_path / "second.yaml")
    sender = ShmSender(JOB)
    try:
        endpoints = [rollout, endpoint_of(second)]
        w = scaled(engine, 1.5)
        m = sender.publish(100, w)
        for ep in endpoints:
            d = await sender.send(ep, m, w, timeout_s=60, max_message_bytes=1 << 26)
            assert d.version == 100
        assert len(sender.segments()) == 1  # one write for both
        want = local_greedy(engine, w)
        for ep in endpoints:
            async with make_channel(ep) as channel:
                assert await remote_greedy(rollout_pb2_grpc.RolloutServiceStub(channel)) == want
    finally:
        sender.close()
        second.stop()
