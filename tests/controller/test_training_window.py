"""The training window's rule, against hand-computed cases: when a shard may start, given the
trainer's version, its pending samples and global batch (128 here), and the shards in flight,
any of which may reach the trainer first."""

from __future__ import annotations

import pytest

from yatt.contracts import RolloutMember, TrainerMember
from yatt.controller.window import InFlight, TrainerView, min_version_to_sample, trainer_view

pytestmark = pytest.mark.unit


def at(version: int, pending: int) -> TrainerView:
    return TrainerView(weight_version=version, pending_samples=pending, global_batch_samples=128)


@pytest.mark.parametrize(
    ("trainer", "in_flight", "staleness", "expected"),
    [
        # Nothing in flight: a shard always starts (pending < batch), with weights at most
        # max_staleness behind the current ones.
        (at(5, 0), [], 1, 4),
        (at(5, 100), [], 0, 5),
        (at(1, 0), [], 3, 0),
        # One batch in flight (2 x 64) under staleness 1: they may step once before us, so we
        # are trained at v6 at the latest and must sample with v5.
        (at(5, 0), [InFlight(64, 5), InFlight(64, 5)], 1, 5),
        # 192 in flight + 64 pending: two steps could come before us: wait.
        (at(5, 64), [InFlight(64, 5)] * 3, 1, None),
        # On-policy: the other half of this batch may start; a third shard may not.
        (at(5, 0), [InFlight(64, 5)], 0, 5),
        (at(5, 0), [InFlight(64, 5), InFlight(64, 5)], 0, None),
        # A shard in flight since v4 with the trainer at v5 (staleness 1): starting one more
        # whose samples could complete a batch ahead of it would push it to v6: wait.
        (at(5, 64), [InFlight(64, 4)], 1, None),
        (at(5, 0), [InFlight(64, 4)], 1, 4),
    ],
)
def test_min_version_to_sample(
    trainer: TrainerView, in_flight: list[InFlight], staleness: int, expected: int | None
) -> None:
    assert min_version_to_sample(trainer, in_flight, 64, staleness) == expected


def test_trainer_view_takes_the_newest_trainer_that_publishes_its_batch() -> None:
    members = [
        TrainerMember(weight_version=3, pending_samples=10, global_batch_samples=128),
        TrainerMember(weight_version=9),  # an older trainer without the fields: ignored
        RolloutMember(weight_version=12),
        TrainerMember(weight_version=4, pending_samples=64, global_batch_samples=128),
    ]
    assert trainer_view(members) == TrainerView(4, 64, 128)
    assert trainer_view([RolloutMember()]) is None
