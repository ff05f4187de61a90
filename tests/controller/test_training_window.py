"""The training window's arithmetic, against hand-computed cases: when a shard may start and
which weights it must be sampled with, given the trainer's version, its pending samples, its
global batch, and the samples of shards claimed before it."""

from __future__ import annotations

import pytest

from yatt.contracts import RolloutMember, TrainerMember
from yatt.controller.window import TrainerView, min_version_to_sample, trainer_view

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("version", "pending", "ahead", "staleness", "expected"),
    [
        (5, 0, 0, 1, 4),  # nothing ahead: trained at v5, may be sampled with v4
        (5, 64, 0, 1, 4),  # half a batch pending: still the current step
        (5, 64, 64, 1, 5),  # one batch ahead: trained at v6, so sampled with >= v5
        (5, 64, 128, 1, 5),  # 192 ahead: trained at v6 (one full step first)
        (5, 64, 192, 1, None),  # 256 ahead: trained at v7, two versions past v5: wait
        (5, 0, 64, 0, 5),  # on-policy: both halves of one batch sample with v5
        (5, 64, 64, 0, None),  # on-policy: the next batch must wait for v6
        (0, 100, 0, 0, 0),  # the oldest claim always starts (pending < batch)
    ],
)
def test_min_version_to_sample(
    version: int, pending: int, ahead: int, staleness: int, expected: int | None
) -> None:
    trainer = TrainerView(weight_version=version, pending_samples=pending, global_batch_samples=128)
    assert min_version_to_sample(trainer, ahead, staleness) == expected


def test_trainer_view_takes_the_newest_trainer_that_publishes_its_batch() -> None:
    members = [
        TrainerMember(weight_version=3, pending_samples=10, global_batch_samples=128),
        TrainerMember(weight_version=9),  # an older trainer without the fields: ignored
        RolloutMember(weight_version=12),
        TrainerMember(weight_version=4, pending_samples=64, global_batch_samples=128),
    ]
    assert trainer_view(members) == TrainerView(4, 64, 128)
    assert trainer_view([RolloutMember()]) is None
