"""DAPO overlong shaping: zero before the buffer, linear inside, -1 beyond the maximum."""

import pytest
import torch

from yatt.controller.algo import apply_overlong_penalty, overlong_penalty
from yatt.errors import InvalidArgument

pytestmark = pytest.mark.unit


def test_penalty_at_buffer_edges() -> None:
    # max 10, buffer 4 -> buffer starts after length 6:
    # L=6 -> 0 (last free length); 7 -> (6-7)/4 = -0.25; 8 -> -0.5; 10 -> -1 (= the cap,
    # so the penalty is continuous at max_length); 11 and beyond -> -1.
    lengths = torch.tensor([0, 6, 7, 8, 10, 11, 20])
    penalty = overlong_penalty(lengths, max_length=10, buffer_length=4)
    torch.testing.assert_close(penalty, torch.tensor([0.0, 0.0, -0.25, -0.5, -1.0, -1.0, -1.0]))


def test_penalty_factor_scales_and_rewards_are_shifted() -> None:
    lengths = torch.tensor([5, 8, 12])
    shaped = apply_overlong_penalty(
        torch.tensor([1.0, 1.0, 1.0]), lengths, max_length=10, buffer_length=4, penalty_factor=0.5
    )
    torch.testing.assert_close(shaped, torch.tensor([1.0, 0.75, 0.5]))


@pytest.mark.parametrize("buffer_length", [0, -1, 11])
def test_bad_buffer_is_refused(buffer_length: int) -> None:
    with pytest.raises(InvalidArgument, match="buffer_length"):
        overlong_penalty(torch.tensor([1]), max_length=10, buffer_length=buffer_length)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        apply_overlong_penalty(torch.zeros(2), torch.tensor([1, 2, 3]), 10, 4)
