"""Builds a randomly initialised causal LM and a locally trained byte-level BPE tokenizer.

The result is a Hugging Face directory that every service loads with from_pretrained, like a real
checkpoint, so tests and examples need no model hub.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    GenerationConfig,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

from yatt.errors import AlreadyExists
from yatt.models.corpus import training_corpus
from yatt.models.presets import ModelPreset, get_preset

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
# Real checkpoints pad the embedding past the tokenizer (for kernels); doing the same here keeps
# engines honest about ids the tokenizer never produces.
VOCAB_MULTIPLE = 64


def train_tokenizer(vocab_size: int, seed: int = 0) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the generated corpus; digits stay single tokens for arithmetic."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_corpus(seed), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)


def model_config(
    preset: ModelPreset, vocab_size: int, eos_id: int, pad_id: int
) -> PretrainedConfig:
    """The Hugging Face config of a preset for a tokenizer of vocab_size ids."""
    cls = Qwen2Config if preset.arch == "qwen2" else LlamaConfig
    return cls(
        vocab_size=vocab_size,
        hidden_size=preset.hidden_size,
        intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.num_layers,
        num_attention_heads=preset.num_heads,
        num_key_value_heads=preset.num_kv_heads,
        max_position_embeddings=preset.max_position_embeddings,
        tie_word_embeddings=preset.tie_word_embeddings,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )


def build_model(
    preset: ModelPreset, vocab_size: int, eos_id: int, pad_id: int, seed: int = 0
) -> PreTrainedModel:
    """A float32 causal LM of the preset's shape with random weights drawn from seed."""
    config = model_config(preset, vocab_size, eos_id, pad_id)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id)
    return model.eval()


def init_model(
    preset: str | ModelPreset, out: str | Path, seed: int = 0, force: bool = False
) -> Path:
    """Writes model + tokenizer to out (Hugging Face format) and returns the directory."""
    spec = get_preset(preset) if isinstance(preset, str) else preset
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise AlreadyExists(f"{out} is not empty; pass --force to overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(spec.vocab_size, seed)
    vocab = -(-len(tokenizer) // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
    model = build_model(spec, vocab, tokenizer.eos_token_id, tokenizer.pad_token_id, seed)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())
