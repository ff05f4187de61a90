"""The reward service as a real process called over gRPC: totals, components, bad input, etcd."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import msgpack
import pytest
import yaml

from yatt.config.common import EtcdConfig
from yatt.config.loader import load_config
from yatt.contracts import RewardMember
from yatt.coordination.client import connect
from yatt.coordination.discovery import RoleDirectory
from yatt.process.handle import ProcessHandle
from yatt.protos import reward_pb2, reward_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.reward.config import RewardConfig
from yatt.services.reward.core import RewardCore
from yatt.services.reward.plugins.base import RewardSample
from yatt.testing.etcd import EtcdServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

READY = "yatt reward serving on"


def functions(model_dir: Path) -> list[dict]:
    return [
        {"name": "exact_answer", "weight": 1.0},
        {"name": "regex_format", "weight": 0.5, "label": "format",
         "options": {"pattern": r".*\\boxed\{.+\}.*"}},
        {"name": "length_penalty", "weight": 1.0,
         "options": {"unit": "tokens", "max_length": 8, "free_length": 4}},
        {"name": "reward_model", "weight": 0.1, "label": "rm",
         "options": {"path": str(model_dir), "batch_size": 2}},
    ]  # fmt: skip


def write_config(tmp: Path, model_dir: Path) -> Path:
    path = tmp / "reward.yaml"
    path.write_text(yaml.safe_dump({"functions": functions(model_dir), "threads": 1}))
    return path


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, reward_model_dir: Path, etcd_server: EtcdServer
) -> Iterator[tuple[ProcessHandle, str]]:
    config = write_config(tmp_path_factory.mktemp("reward-cfg"), reward_model_dir)
    proc = ProcessHandle.python(
        "-m", "yatt.services.reward", "--config", str(config),
        "--set", "registration.job=job1", "--set", "registration.instance=r0",
        "--set", f"etcd.endpoint={etcd_server.endpoint}", "--set", "registration.load_interval_s=0.2",
        name="reward",
    ).start()  # fmt: skip
    try:
        yield proc, proc.wait_for_line(READY, timeout=60).rsplit(" ", 1)[-1]
    finally:
        proc.stop()


SAMPLES = [
    RewardSample("a", "7+12=", "\\boxed{19}", {"answer": "19"}, b"", (1, 2, 3)),
    RewardSample("b", "7+12=", "the answer is 18", {"answer": 19}, b"img", (1, 2, 3, 4, 5, 6)),
    RewardSample("c", "2*3=", "= 6.", {"answer": "6"}, b"", tuple(range(20))),
]


async def test_total_and_components_per_sample(
    service: tuple[ProcessHandle, str], reward_model_dir: Path, score: Callable
) -> None:
    _, endpoint = service
    scores = await score(endpoint, SAMPLES)
    assert [sid for sid, _ in scores] == ["a", "b", "c"]
    by_id = dict(scores)
    # Rule parts by hand: exact, format (\boxed), tokens past 4 of max 8.
    expected = {"a": (1.0, 1.0, 0.0), "b": (0.0, 0.0, -0.5), "c": (1.0, 0.0, -1.0)}
    for sid, (exact, fmt, length) in expected.items():
        comp = by_id[sid].components
        assert set(comp) == {"exact_answer", "format", "length_penalty", "rm"}
        assert (comp["exact_answer"], comp["format"], comp["length_penalty"]) == (
            exact,
            fmt,
            length,
        )
        total = exact + 0.5 * fmt + length + 0.1 * comp["rm"]
        assert by_id[sid].total == pytest.approx(total, abs=1e-5)
        assert by_id[sid].details["exact_answer"]["reference"] in ("19", "6")
    # The reward model part equals an in-process core built from the same config.
    cfg = load_config(RewardConfig, data={"functions": functions(reward_model_dir)})
    core = RewardCore.from_config(cfg)
    await core.start()
    local = await core.score(SAMPLES)
    await core.close()
    for (_, remote), here in zip(scores, local, strict=True):
        assert remote.components["rm"] == pytest.approx(here.components["rm"], abs=1e-5)


async def expect_invalid(stub: reward_pb2_grpc.RewardServiceStub, request, match: str) -> None:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Score(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert match in err.value.details()


async def test_bad_input_is_invalid_argument_and_service_keeps_serving(
    service: tuple[ProcessHandle, str],
) -> None:
    proc, endpoint = service
    good = reward_pb2.ScoreSample(
        id="ok", completion="19", metadata=msgpack.packb({"answer": 19}), completion_token_ids=[1]
    )
    async with make_channel(endpoint) as channel:
        stub = reward_pb2_grpc.RewardServiceStub(channel)
        await expect_invalid(stub, reward_pb2.ScoreRequest(), "samples: empty batch")
        bad_meta = reward_pb2.ScoreSample(id="x", completion="19", metadata=b"\xc1\x00junk")
        await expect_invalid(
            stub, reward_pb2.ScoreRequest(samples=[good, bad_meta]), "samples.1.metadata"
        )
        not_a_map = reward_pb2.ScoreSample(id="x", metadata=msgpack.packb([1, 2]))
        await expect_invalid(stub, reward_pb2.ScoreRequest(samples=[not_a_map]), "msgpack map")
        no_answer = reward_pb2.ScoreSample(
            id="x", completion="19", metadata=msgpack.packb({"q": 1}), completion_token_ids=[1]
        )
        await expect_invalid(
            stub,
            reward_pb2.ScoreRequest(samples=[good, no_answer]),
            "samples.1.metadata: missing 'answer'",
        )
        no_tokens = reward_pb2.ScoreSample(
            id="x", completion="19", metadata=msgpack.packb({"answer": 1})
        )
        await expect_invalid(
            stub, reward_pb2.ScoreRequest(samples=[no_tokens]), "completion_token_ids"
        )
        reply = await stub.Score(reward_pb2.ScoreRequest(samples=[good]), timeout=10)
    assert reply.scores[0].id == "ok" and reply.scores[0].components["exact_answer"] == 1.0
    assert proc.alive()


async def test_registered_under_reward_role(
    service: tuple[ProcessHandle, str], etcd_server: EtcdServer
) -> None:
    _, endpoint = service
    client = await connect(EtcdConfig(endpoint=etcd_server.endpoint))
    try:
        async with RoleDirectory(client, "job1", "reward") as directory:
            members = await directory.wait_for(1, timeout=10)
    finally:
        await client.close()
    assert members["r0"] == RewardMember(
        endpoint=endpoint, role="reward", instance="r0", slot=None, pid=members["r0"].pid,
        load=members["r0"].load, functions=["exact_answer", "format", "length_penalty", "rm"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("functions=[{name: exactt_answer}]",
         "functions.0.name: unknown reward function 'exactt_answer'; known: exact_answer, judge, "
         "length_penalty, regex_format, reward_model, sim, weighted_sum"),
        ("functions=[{name: length_penalty, options: {max_length: 0}}]",
         "functions.0.options: max_length: Input should be greater than 0"),
        ("functions=[]", "functions: List should have at least 1 item"),
    ],
)  # fmt: skip
def test_bad_config_fails_at_start_naming_the_key(override: str, message: str) -> None:
    proc = ProcessHandle.python("-m", "yatt.services.reward", "--set", override, name="reward")
    try:
        proc.start()
        with pytest.raises(RuntimeError, match="exited"):
            proc.wait_for_line(READY, timeout=60)
        assert proc.stop() == 2
        assert message in proc.output()
    finally:
        proc.stop()
