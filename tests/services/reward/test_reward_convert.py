"""Round trips of every reward converter, and refusal of metadata that is not a msgpack map."""

from __future__ import annotations

import msgpack
import pytest

from yatt.errors import InvalidArgument
from yatt.protos import reward_pb2
from yatt.services.reward import convert
from yatt.services.reward.plugins.base import RewardResult, RewardSample

pytestmark = pytest.mark.unit


def test_sample_round_trip() -> None:
    samples = [
        RewardSample(
            id="a/0", prompt="7+12=", completion="19", metadata={"answer": "19", "n": [1, 2.5]},
            payload=b"\x00\xffimg", completion_token_ids=(3, 4, 5),
        ),
        RewardSample(id="", prompt="", completion=""),
    ]  # fmt: skip
    wire = convert.request_to_proto(samples).SerializeToString()
    back = convert.request_from_proto(reward_pb2.ScoreRequest.FromString(wire))
    assert back == samples


def test_reply_round_trip() -> None:
    samples = [
        RewardSample(id="x", prompt="", completion=""),
        RewardSample(id="y", prompt="", completion=""),
    ]
    results = [
        RewardResult(total=1.5, components={"exact": 1.0, "len": 0.5}, details={"why": "ok"}),
        RewardResult(total=-0.25),
    ]
    wire = convert.reply_to_proto(samples, results).SerializeToString()
    back = convert.reply_from_proto(reward_pb2.ScoreReply.FromString(wire))
    assert back == [("x", results[0]), ("y", results[1])]


@pytest.mark.parametrize("metadata", [b"\xc1garbage", msgpack.packb([1, 2]), msgpack.packb("str")])
def test_bad_metadata_is_invalid_argument(metadata: bytes) -> None:
    msg = reward_pb2.ScoreRequest(
        samples=[reward_pb2.ScoreSample(id="ok"), reward_pb2.ScoreSample(metadata=metadata)]
    )
    with pytest.raises(InvalidArgument, match=r"samples\.1\.metadata"):
        convert.request_from_proto(msg)
