"""yatt.models: presets, init-model output loadable with from_pretrained, the tokenizer, the
weight spec, and the shared token_logprobs (padding-invariant, equal to a manual computation).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from yatt.errors import AlreadyExists, ConfigError
from yatt.models.init import count_parameters, init_model, model_config
from yatt.models.load import load_causal_lm, load_tokenizer
from yatt.models.logprobs import token_logprobs
from yatt.models.presets import PRESETS, get_preset
from yatt.models.weights import spec_of

os.environ.setdefault("OMP_NUM_THREADS", "1")
pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_model("tiny", tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.mark.parametrize(
    ("name", "low", "high"), [("tiny", 0.7e6, 1.5e6), ("small", 4e6, 7e6), ("base", 20e6, 32e6)]
)
def test_preset_sizes(tiny: Path, name: str, low: float, high: float) -> None:
    p = get_preset(name)
    vocab = AutoConfig.from_pretrained(tiny).vocab_size
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config(p, vocab, 0, 1))
    assert low <= count_parameters(model) <= high
    assert p.hidden_size // p.num_heads == 64


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: \\['base', 'small', 'tiny'\\]"):
        get_preset("huge")
    assert set(PRESETS) == {"tiny", "small", "base"}


def test_init_model_is_loadable_and_reproducible(tiny: Path, tmp_path: Path) -> None:
    model = load_causal_lm(tiny)
    assert model.dtype == torch.float32 and not model.training
    assert model.config.model_type == "qwen2" and model.config.vocab_size % 64 == 0
    again = load_causal_lm(init_model("tiny", tmp_path / "again", seed=0))
    for (n, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    with pytest.raises(AlreadyExists, match="--force"):
        init_model("tiny", tmp_path / "again")
    other = load_causal_lm(init_model("tiny", tmp_path / "again", seed=1, force=True))
    assert not torch.equal(other.lm_head.weight, model.lm_head.weight)


def test_tokenizer_round_trips_arithmetic_and_text(tiny: Path) -> None:
    tok = load_tokenizer(tiny)
    for text in ["12+7=19", "Q: 345*2= A: 690", "Hello world! The answer is 5."]:
        assert tok.decode(tok(text).input_ids) == text
    digits = [tok.decode([i]) for i in tok("1234").input_ids]
    assert digits == ["1", "2", "3", "4"]  # single digits keep arithmetic learnable
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token_id != tok.eos_token_id
    model = load_causal_lm(tiny)
    assert len(tok) <= model.config.vocab_size
    assert model.config.eos_token_id == tok.eos_token_id


def test_load_refuses_non_model_dirs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a local model directory"):
        load_causal_lm(tmp_path)
    with pytest.raises(ConfigError, match="not a local model directory"):
        load_tokenizer("Qwen/Qwen2-0.5B")  # a hub name is never fetched


def test_token_logprobs_matches_manual_and_ignores_padding(tiny: Path) -> None:
    model = load_causal_lm(tiny)
    ids = torch.tensor([[5, 9, 13, 200, 7, 42]])
    with torch.no_grad():
        got = token_logprobs(model, ids, torch.ones_like(ids))
        manual = torch.stack([
            torch.log_softmax(model(input_ids=ids[:, : t + 1]).logits[0, -1].float(), -1)[ids[0, t + 1]]
            for t in range(ids.shape[1] - 1)
        ])  # fmt: skip
        assert got.shape == (1, 5) and got.dtype == torch.float32
        assert torch.allclose(got[0], manual, atol=1e-5)
        pad = model.config.pad_token_id
        right = torch.tensor(
            [[5, 9, 13, 200, 7, 42, pad, pad], [3, 4, pad, pad, pad, pad, pad, pad]]
        )
        left = torch.tensor([[pad, pad, 5, 9, 13, 200, 7, 42], [pad] * 6 + [3, 4]])
        r = token_logprobs(model, right, (right != pad).long())
        l = token_logprobs(model, left, (left != pad).long())  # noqa: E741
    assert torch.allclose(r[0, :5], got[0], atol=1e-5)
    assert torch.allclose(l[0, 2:], got[0], atol=1e-5)
    assert torch.allclose(r[1, :1], l[1, -1:], atol=1e-5)
    assert torch.all(r[0, 5:] == 0) and torch.all(l[1, :-1] == 0)


def test_token_logprobs_has_gradients(tiny: Path) -> None:
    model = load_causal_lm(tiny)
    ids = torch.tensor([[5, 9, 13]])
    token_logprobs(model, ids, torch.ones_like(ids)).sum().backward()
    assert model.model.embed_tokens.weight.grad is not None


def test_weight_spec_lists_params_once_with_tied_alias(tiny: Path) -> None:
    spec = spec_of(load_causal_lm(tiny))
    assert spec.aliases == {"lm_head.weight": "model.embed_tokens.weight"}
    assert "lm_head.weight" not in spec.tensors and "model.norm.weight" in spec.tensors
    assert all(t.dtype == torch.float32 for t in spec.tensors.values())
