"""The example external reward server as a process, called with the same client as ours."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import grpc
import msgpack
import pytest

from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.coordination.discovery import RoleDirectory
from yatt.process.handle import ProcessHandle
from yatt.protos import reward_pb2, reward_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.reward.plugins.base import RewardSample
from yatt.testing.etcd import EtcdServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLE = str(Path(__file__).parents[3] / "examples" / "external_reward_server.py")
READY = "external reward server serving on"

SAMPLES = [
    RewardSample("a", "7+12=", "it is 19", {"answer": 19}),
    RewardSample("b", "7+12=", "18.", {"answer": "19"}),
]


def start(*args: str) -> tuple[ProcessHandle, str]:
    proc = ProcessHandle.python(EXAMPLE, *args, name="external-reward").start()
    try:
        return proc, proc.wait_for_line(READY, timeout=60).rsplit(" ", 1)[-1]
    except BaseException:
        proc.stop()
        raise


async def test_rule_scorer_registers_scores_and_refuses_bad_input(
    etcd_server: EtcdServer, score: Callable
) -> None:
    proc, endpoint = start("--etcd", etcd_server.endpoint, "--job", "jobx", "--instance", "ext0")
    client = await connect(EtcdConfig(endpoint=etcd_server.endpoint))
    try:
        async with RoleDirectory(client, "jobx", "reward") as directory:
            members = await directory.wait_for(1, timeout=10)
            assert members["ext0"].endpoint == endpoint
            scores = dict(await score(endpoint, SAMPLES))
            # "it is 19": correct, 3 words; "18.": wrong, 1 word.
            assert scores["a"].components == pytest.approx({"correct": 1.0, "brevity": -0.03})
            assert scores["a"].total == pytest.approx(0.97)
            assert scores["b"].total == pytest.approx(-0.01)
            async with make_channel(endpoint) as channel:
                stub = reward_pb2_grpc.RewardServiceStub(channel)
                for request in (
                    reward_pb2.ScoreRequest(),
                    reward_pb2.ScoreRequest(samples=[reward_pb2.ScoreSample(metadata=b"\xc1")]),
                    reward_pb2.ScoreRequest(
                        samples=[reward_pb2.ScoreSample(metadata=msgpack.packb({"q": 1}))]
                    ),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await stub.Score(request, timeout=10)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert (await score(endpoint, SAMPLES[:1]))[0][1].total == pytest.approx(0.97)
            # SIGTERM: the server leaves the role (lease revoked) and exits cleanly.
            assert await asyncio.to_thread(proc.stop) == 0
            await directory.wait_until(lambda m: "ext0" not in m, timeout=10)
    finally:
        proc.stop()
        await client.close()


async def test_model_scorer_matches_the_model(reward_model_dir: Path, score: Callable) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    proc, endpoint = start("--model", str(reward_model_dir))
    try:
        scores = await score(endpoint, SAMPLES)
    finally:
        proc.stop()
    tok = AutoTokenizer.from_pretrained(reward_model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(reward_model_dir).eval()
    with torch.inference_mode():
        for (sid, result), sample in zip(scores, SAMPLES, strict=True):
            ids = tok(sample.prompt + sample.completion, return_tensors="pt")
            expected = float(model(**ids).logits[0, 0])
            assert sid == sample.id
            assert result.total == pytest.approx(expected, abs=1e-5)
            assert result.components == {"rm": pytest.approx(expected, abs=1e-5)}
