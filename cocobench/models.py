"""Models: named presets trained from scratch, local pretrained models, and checkpoints.

A preset is a transformers config (GPT-2 or Llama architecture) with randomly initialised weights and
a word-level tokenizer built from the training data (no pretrained weights are available offline).
Anything else is loaded with `from_pretrained` as transformers does: a `save_pretrained` directory,
or a Hugging Face hub id (the cache first, downloaded when needed; never with HF_HUB_OFFLINE=1). A checkpoint is a plain `save_pretrained`
directory (model + tokenizer, safetensors) plus `cocobench.json`, so it opens in transformers alone.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from cocobench.errors import CocobenchError

METADATA_FILE = "cocobench.json"

# The 128-wide symbolic model with 8 heads (as the 768-wide original), an untied LM head and a larger initial
# scale (0.05, about PyTorch's default for a 128-input linear layer, instead of GPT-2's 0.02): plain-PyTorch
# runs on one-hop graphs learn the lookup several hundred steps sooner without tying or 0.02 init.
_UNTIED_128 = dict(n_layer=2, n_embd=128, n_head=8, tie_word_embeddings=False, initializer_range=0.05)
_NO_DROPOUT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)

# name -> (architecture, config fields, one-line description). All have 1024 positions, like GPT-2.
PRESETS: dict[str, tuple[str, dict[str, Any], str]] = {
    "gpt2-tiny": ("gpt2", dict(n_layer=2, n_embd=64, n_head=2), "2 layers, 64 wide: tests and smoke runs"),
    "gpt2-cpu": ("gpt2", dict(n_layer=4, n_embd=256, n_head=4), "4 layers, 256 wide: the CPU suite"),
    "gpt2-124m": ("gpt2", dict(n_layer=12, n_embd=768, n_head=12), "GPT-2 small's shape (the paper's model), random init"),
    "gpt2-2l-128": ("gpt2", dict(n_layer=2, n_embd=128, n_head=4), "2 layers, 128 wide: symbolic ProsQA on a CPU"),
    "gpt2-2l-128-untied": ("gpt2", _UNTIED_128, "2 layers, 8 heads, 128 wide, untied head, init 0.05: symbolic ProsQA on a CPU"),
    # dropout delayed the one-hop lookup by about two epochs (80,000 examples) there
    "gpt2-2l-128-untied-nodrop": ("gpt2", {**_UNTIED_128, **_NO_DROPOUT}, "gpt2-2l-128-untied without dropout: symbolic ProsQA on a CPU"),
    "gpt2-2l-768": ("gpt2", dict(n_layer=2, n_embd=768, n_head=8), "2 layers, 8 heads, 768 wide: 'Reasoning by Superposition' on symbolic ProsQA"),
    "llama-2l-128": (
        "llama",
        dict(num_hidden_layers=2, hidden_size=128, intermediate_size=512, num_attention_heads=8, num_key_value_heads=8,
             tie_word_embeddings=False, initializer_range=0.05),
        "2 layers, 8 heads, 128 wide, rotary positions, untied head: symbolic ProsQA on a CPU",
    ),
    "llama-2l-64": (
        "llama",
        dict(num_hidden_layers=2, hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=4,
             tie_word_embeddings=False, initializer_range=0.05),
        "2 layers, 4 heads, 64 wide, rotary positions, untied head: the demo",
    ),
    "llama-tiny": (
        "llama",
        dict(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False),
        "2-layer Llama (rotary positions, grouped-query attention, untied head): tests",
    ),
}
MAX_POSITIONS = 1024


def preset_config(name: str, vocab_size: int, *, pad_id: int, eos_id: int, bos_id: int):
    from transformers import GPT2Config, LlamaConfig

    arch, fields, _ = PRESETS[name]
    ids = dict(vocab_size=vocab_size, pad_token_id=pad_id, eos_token_id=eos_id, bos_token_id=bos_id)
    if arch == "gpt2":
        # GPT-2's tanh GELU, computed by one fused PyTorch op instead of gelu_new's eight (same function;
        # the eight separate passes over the MLP activations dominate CPU time at batch sizes of 32+).
        return GPT2Config(n_positions=MAX_POSITIONS, activation_function="gelu_pytorch_tanh", **fields, **ids)
    return LlamaConfig(max_position_embeddings=MAX_POSITIONS, **fields, **ids)


def build_model_and_tokenizer(name_or_path: str, train_texts: Iterable[str] | None = None, seed: int = 0, symbolic: bool = False,
                              vocabulary_source: str | None = None):
    """(model, tokenizer) for a preset name (new tokenizer from `train_texts`, or the fixed symbolic one;
    weights seeded by `seed`) or for a local pretrained model (its own tokenizer, plus the latent tokens).
    `vocabulary_source`: what determines `train_texts` (`tokenized.data_source`), naming its cached vocabulary."""
    if name_or_path in PRESETS:
        return _build_preset(name_or_path, train_texts, seed, symbolic, vocabulary_source)
    if symbolic:
        raise CocobenchError(f"symbolic ProsQA trains from scratch with its own 41-token vocabulary, which '{name_or_path}' does not have; "
                             f"use a preset (--model {', '.join(PRESETS)})")
    return _load_pretrained(name_or_path)


def _build_preset(name: str, train_texts: Iterable[str] | None, seed: int, symbolic: bool = False, vocabulary_source: str | None = None):
    from transformers import AutoModelForCausalLM

    from cocobench.tokenized import word_tokenizer
    from cocobench.tokenizer import LATENT_TOKENS, build_symbolic_tokenizer, initialise_rows

    if train_texts is None and not symbolic:
        raise ValueError(f"preset '{name}' builds its vocabulary from the training texts: pass train_texts")
    if not symbolic:  # large data: the vocabulary is counted once
        texts = train_texts if isinstance(train_texts, Sequence) else list(train_texts)
        tokenizer = word_tokenizer(texts, source=vocabulary_source)
    else:
        tokenizer = build_symbolic_tokenizer()
    config = preset_config(name, len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id, bos_id=tokenizer.bos_token_id)
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    # The latent tokens start as copies of an existing word, as in the paper (which copies GPT-2's "<<");
    # the symbolic vocabulary keeps every row random, as the anchor's from-scratch model does.
    if not symbolic:
        initialise_rows(tokenizer, model, tokenizer.convert_tokens_to_ids(list(LATENT_TOKENS)))
    return model, tokenizer


def _local_model_dir(name: str) -> Path | None:
    """The directory `name` names, or None for a hub id. Anything that reads as a path (it exists, or
    starts with `.`, `/` or `~`, or has more than one `/`: a hub id is `org/name`) is one, and must be a
    save_pretrained directory: a missing path is not looked up on the hub."""
    path = Path(name).expanduser()
    if not (path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1):
        return None
    if not path.exists():
        raise CocobenchError(f"model directory '{name}' does not exist; pass a save_pretrained directory, a preset ({', '.join(PRESETS)}) or a hub id")
    if not path.is_dir():
        raise CocobenchError(f"model '{name}' is a file; pass a save_pretrained directory (it holds config.json and the weights)")
    if not (path / "config.json").is_file():
        raise CocobenchError(f"model directory '{name}' has no config.json; pass a directory written by save_pretrained")
    return path


def _misspelt_preset(name: str) -> bool:
    """A name one typo from a preset (`gpt3-tiny`) is looked up in the cache only: its error says which preset,
    at once, instead of after the hub's network retries."""
    return "/" not in name and bool(difflib.get_close_matches(name, PRESETS, n=1, cutoff=0.8))


def _not_a_model(name: str, offline: bool) -> CocobenchError:
    close = difflib.get_close_matches(name, PRESETS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    why = "HF_HUB_OFFLINE=1 forbids downloading it" if offline else "it could not be downloaded (no network, or no such model on the hub)"
    return CocobenchError(
        f"model '{name}' is neither a preset ({', '.join(PRESETS)}){hint} nor a local directory nor in the Hugging Face cache, and {why}; "
        f"run `huggingface-cli download {name}` on a machine with internet (and copy its cache here), or pass a path to a save_pretrained directory"
    )


def hub_offline() -> bool:
    """HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1), read now: huggingface_hub reads it only once, at import."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any((flag or "").upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


@contextlib.contextmanager
def _no_progress_bars():
    """transformers draws a progress bar for every load and save, and huggingface_hub a warning for
    every retried request; our own progress display owns stderr, and a failed load is one error line."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    hub_logger = hub_logging.get_logger("huggingface_hub")
    hub_level = hub_logger.level
    logging.disable_progress_bar()
    hub_logger.setLevel("ERROR")
    try:
        yield
    finally:
        hub_logger.setLevel(hub_level)
        if enabled:
            logging.enable_progress_bar()


def _from_pretrained(name: str, local_files_only: bool = True):
    """(model, tokenizer) from a save_pretrained directory or the HF cache; downloads only when asked."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _no_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_files_only)
        # fp32 whatever the files hold: the paper trains in fp32, CUDA adds bf16 autocast on top.
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=local_files_only, dtype=torch.float32)
    return model, tokenizer


def _load_pretrained(name: str):
    from safetensors import SafetensorError

    from cocobench.tokenizer import add_latent_tokens

    path = _local_model_dir(name)
    offline = hub_offline()
    try:  # a directory as it is; a hub id: the cache first, then (unless offline) a download, as transformers does
        model, tokenizer = _from_pretrained(str(path or name), local_files_only=path is not None or offline or _misspelt_preset(name))
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        if path is not None:  # truncated or random weights, a broken config or tokenizer
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            raise CocobenchError(f"model directory '{name}' is damaged or incomplete ({exc.__class__.__name__}: {detail}); "
                                 "pass an intact save_pretrained directory") from None
        if _misspelt_preset(name):
            close = difflib.get_close_matches(name, PRESETS, n=1, cutoff=0.8)[0]
            raise CocobenchError(f"unknown model '{name}'; did you mean '{close}'? presets: {', '.join(PRESETS)}; "
                                 "or pass a save_pretrained directory or a hub id (org/name)") from None
        raise _not_a_model(name, offline) from None
    add_latent_tokens(tokenizer, model)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def save_checkpoint(path: str | Path, model, tokenizer, metadata: dict[str, Any], extra_files: dict[str, Any] | None = None, state_dict: dict[str, Any] | None = None) -> None:
    """Write a `save_pretrained` directory (model + tokenizer, safetensors) plus `cocobench.json`
    (`metadata`) and `extra_files` (name -> object, written with torch.save), atomically: an
    interrupted save leaves the previous checkpoint in place. `state_dict`: the full weights to write
    instead of the model's own (FSDP, whose model holds only this process's shards)."""
    from cocobench.io import atomic_directory

    with atomic_directory(path) as tmp, _no_progress_bars():
        # a copy: save_pretrained pops the tensors it writes, and `best` and `last` are saved from one dict
        model.save_pretrained(tmp, **({"state_dict": dict(state_dict)} if state_dict is not None else {}))
        tokenizer.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for name, obj in (extra_files or {}).items():
            # through a buffer: torch.save's own error on a full disk names no errno, a plain write's does
            buffer = io.BytesIO()
            torch.save(obj, buffer)
            (tmp / name).write_bytes(buffer.getbuffer())


def require_checkpoint(path: str | Path, name: str = "checkpoint") -> Path:
    """The path, if it is a model directory (has config.json); else a one-line error naming `name`."""
    path = Path(path)
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "is a file, not a directory" if path.is_file() else "is not a model checkpoint (no config.json)"
        raise CocobenchError(f"{name} '{path}' {what}; pass a checkpoint directory such as runs/NAME/checkpoints/best")
    return path


def load_checkpoint(path: str | Path):
    """(model, tokenizer, metadata) from a checkpoint directory; metadata is {} for a plain
    `save_pretrained` directory (which also gets the latent tokens if it lacks them)."""
    from cocobench.tokenizer import LATENT, add_latent_tokens

    from safetensors import SafetensorError

    path = require_checkpoint(path)
    try:
        model, tokenizer = _from_pretrained(str(path))
    except (OSError, ValueError, KeyError, SafetensorError) as exc:  # truncated or random files: safetensors, JSON, tokenizer
        raise unreadable_checkpoint(path, exc) from None
    if tokenizer.convert_tokens_to_ids(LATENT) in (None, tokenizer.unk_token_id):
        add_latent_tokens(tokenizer, model)
    return model, tokenizer, read_metadata(path)


def read_metadata(path: Path) -> dict[str, Any]:
    """The checkpoint's cocobench.json ({} when absent); a damaged one is a one-line error."""
    file = path / METADATA_FILE
    if not file.is_file():
        return {}
    try:
        metadata = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise unreadable_checkpoint(path, exc, METADATA_FILE) from None
    if not isinstance(metadata, dict):
        raise unreadable_checkpoint(path, ValueError("expected a JSON object"), METADATA_FILE)
    return metadata


def unreadable_checkpoint(path: Path, exc: BaseException, file: str | None = None) -> CocobenchError:
    """The one error for a checkpoint whose files are truncated, random or of the wrong kind."""
    detail = (str(exc).strip().splitlines() or [""])[0].split(". ")[0][:200]
    where = f"{file}: " if file else ""
    return CocobenchError(
        f"checkpoint '{path}' is damaged or incomplete ({where}{exc.__class__.__name__}: {detail}); "
        "pass an intact checkpoint directory written by cocobench (or re-create it)"
    )


def transformer_blocks(model) -> list[torch.nn.Module]:
    """The model's repeated transformer blocks (instances of its `_no_split_modules` classes): FSDP's
    shard units."""
    block_types = set(getattr(model, "_no_split_modules", None) or ())
    return [module for module in model.modules() if type(module).__name__ in block_types]


def compile_transformer(model, backend: str = "inductor", mode: str | None = None) -> None:
    """torch.compile the model's transformer body (`base_model`: the blocks and the final norm, not the
    LM head) in place, with dynamic shapes.

    The body is the unit every latent pass calls, with another number of new and cached columns each
    time; the Python between passes (thought feeding, unshifting) stays eager. Compiled whole, it is
    at most four graphs whatever the depth (the first pass, a thought's one-column pass, a later
    multi-column one with the whole mask or a prefix of it; tests/test_compile.py), where compiling each
    block separately recompiles per layer index (the cache is guarded per layer) and runs into dynamo's
    recompile limit (8) at GPT-2's 12 layers. On a GPU the point is fewer kernel launches per pass,
    which bound a Coconut step there (results/gpu). Measured by benchmarks/engine_speed.py --compile;
    not a run setting until measured to help.
    """
    model.base_model.compile(backend=backend, mode=mode, dynamic=True)
