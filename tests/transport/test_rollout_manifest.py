"""A real rollout process loading versions by manifest over shm: bit-exact, atomic, and bad
manifests refused while the instance keeps serving (identical outputs) the version it has."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_helpers import JOB, endpoint_of, local_greedy, remote_greedy, rollout_process, scaled

from yatt.errors import FailedPrecondition, InvalidArgument, YattError
from yatt.services.rollout.client import RolloutClient
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


async def expect(call, error: type[YattError], match: str) -> None:  # noqa: ANN001
    with pytest.raises(error) as err:
        await call
    assert match in str(err.value), err.value


async def test_shm_then_grpc_versions_are_bit_exact_and_bad_manifests_change_nothing(
    rollout: str, engine
) -> None:  # noqa: ANN001
    sender = ShmSender(JOB)
    invalid = InvalidArgument
    try:
        async with RolloutClient.connect(rollout, 1 << 26) as stub:

            async def send(m):  # noqa: ANN001, ANN202
                return await stub.load_weights_from_manifest(m, timeout_s=60)

            base = await remote_greedy(stub)
            w2 = scaled(engine, 2.0)
            m1 = sender.publish(1, w2)
            reply = await send(m1)
            assert (reply.weight_version, reply.tensors, reply.bytes) == (1, len(w2), m1.nbytes)
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
            assert (await stub.info()).weight_version == 1
            assert await remote_greedy(stub) == served

            # Old or equal versions: FAILED_PRECONDITION, over either transport.
            await expect(send(m1), FailedPrecondition, "not newer than the served 1")
            grpc_sender = GrpcSender(1 << 16)
            old = grpc_sender.publish(1, w3)
            with pytest.raises(FailedPrecondition):
                await grpc_sender.send(stub, old, w3, timeout_s=60)

            # The good version 2 over shm, then version 3 over grpc: both bit-exact.
            assert (await send(m2)).weight_version == 2
            assert await remote_greedy(stub) == local_greedy(engine, w3)
            w4 = scaled(engine, 0.5)
            delivery = await grpc_sender.send(stub, grpc_sender.publish(3, w4), w4, timeout_s=60)
            assert delivery.weight_version == 3
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
            async with RolloutClient.connect(ep) as client:
                assert (await sender.send(client, m, w, timeout_s=60)).weight_version == 100
        assert len(sender.segments()) == 1  # one write for both
        want = local_greedy(engine, w)
        for ep in endpoints:
            async with RolloutClient.connect(ep) as client:
                assert await remote_greedy(client) == want
    finally:
        sender.close()
        second.stop()
