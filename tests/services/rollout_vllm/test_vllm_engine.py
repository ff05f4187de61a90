"""The vllm engine on vLLM's real CPU engine: sampling, log-probs, and in-place weight swaps.

One .venv-vllm subprocess (_vllm_probe.py) does the work and reports JSON; each test checks a part.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

VLLM_PYTHON = Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "python"
pytestmark = [
    pytest.mark.skipif(
        not VLLM_PYTHON.exists(), reason=f"{VLLM_PYTHON} is absent: run scripts/setup_vllm_env.sh"
    ),
    pytest.mark.integration,
    pytest.mark.vllm,
]

PROBE = Path(__file__).with_name("_vllm_probe.py")


@pytest.fixture(scope="module")
def probe(vllm_models: tuple[Path, Path], vllm_env: dict[str, str]) -> dict:
    model_a, model_b = vllm_models
    proc = subprocess.Popen(
        [str(VLLM_PYTHON), str(PROBE), str(model_a), str(model_b)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=vllm_env,
    )
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [ln for ln in out.splitlines() if ln.startswith("YATT_RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(out[-6000:])
        pytest.fail(f"vllm probe exited {proc.returncode} without a result")
    return json.loads(lines[-1].removeprefix("YATT_RESULT "))


def test_sampling_returns_n_valid_samples_per_prompt(probe: dict) -> None:
    got = probe["sampled"]
    assert sorted((s["prompt_id"], s["index"]) for s in got) == [
        (f"p{i}", j) for i in range(3) for j in range(2)
    ]
    for s in got:
        assert 1 <= len(s["tokens"]) <= 12
        assert len(s["logprobs"]) == len(s["tokens"])
        assert all(0 <= t < probe["vocab_size"] for t in s["tokens"])
        assert all(math.isfinite(x) and x <= 0.0 for x in s["logprobs"])
        assert s["finish"] in ("stop", "length")
    assert probe["max_model_len"] == 512


def test_seeded_sampling_is_reproducible_and_samples_differ(probe: dict) -> None:
    key = lambda s: (s["prompt_id"], s["index"])  # noqa: E731
    first = sorted(probe["sampled"], key=key)
    assert first == sorted(probe["sampled_again"], key=key)
    by_prompt: dict[str, list[list[int]]] = {}
    for s in first:
        by_prompt.setdefault(s["prompt_id"], []).append(s["tokens"])
    assert all(a != b for a, b in by_prompt.values())


def _assert_matches_hf(vllm: list[dict], hf: list[dict]) -> None:
    vllm = sorted(vllm, key=lambda s: s["prompt_id"])
    for got, want in zip(vllm, hf, strict=True):
        assert got["tokens"] == want["tokens"]
        assert (
            max(abs(a - b) for a, b in zip(got["logprobs"], want["logprobs"], strict=True)) < 1e-4
        )


def test_greedy_matches_transformers(probe: dict) -> None:
    _assert_matches_hf(probe["greedy_a"], probe["hf_a"])


def test_stop_string_ends_the_sample_early(probe: dict) -> None:
    (got,) = probe["stop_string"]
    greedy = min(probe["greedy_a"], key=lambda s: s["prompt_id"])
    assert got["tokens"] == greedy["tokens"][:3]
    assert got["finish"] == "stop"


def test_load_weights_swaps_to_the_new_model(probe: dict) -> None:
    assert [s["tokens"] for s in probe["greedy_b"]] != [s["tokens"] for s in probe["greedy_a"]]
    _assert_matches_hf(probe["greedy_b"], probe["hf_b"])
    # An aborted stream leaves the engine clean, still on the new weights.
    assert probe["after_abort"][0]["tokens"] == probe["hf_b"][0]["tokens"]


def test_bad_input_is_invalid_argument(probe: dict) -> None:
    assert "no.such.tensor" in probe["bad_weights"]
    assert "outside [0, " in probe["bad_ids"]


def test_throughput_is_reported(probe: dict) -> None:
    print(
        f"vllm start-up {probe['startup_s']:.1f} s, weight swap {probe['load_weights_s']:.3f} s, "
        f"{probe['tokens_per_s']:.0f} tokens/s (32 prompts x 64 tokens)"
    )
    assert probe["bench_tokens"] > 32 and probe["tokens_per_s"] > 0
