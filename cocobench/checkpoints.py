"""Run checkpoints: `checkpoints/last` (with optimizer and trainer state, for --resume) and
`checkpoints/best` (best validation accuracy). Each is a standard `save_pretrained` directory that
opens in plain transformers, plus `cocobench.json` (method and settings) and small extra files.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from cocobench.errors import CocobenchError
from cocobench.models import unreadable_checkpoint
from cocobench.rundir import TRAINER_STATE, RunDir

CLASSIFIER_WEIGHTS = "stop_classifier.pt"
PROJECTION_WEIGHTS = "thought_projection.pt"  # CODI's thought projection (engine.ThoughtProjection), when the model has one


@dataclass
class TrainState:
    """Where training stands: saved in checkpoints/last's trainer state, and what a resume starts from."""

    epoch: int = 0  # the next epoch to run
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float | None = None
    best_epoch: int | None = None
    train_seconds: float = 0.0


def save_run_checkpoint(run_dir: Path, cfg, model, tokenizer, classifier, state, optimizer, *, best: bool, net=None) -> None:
    """Write checkpoints/best (when `best`), then checkpoints/last, each atomically. `best` first: a
    kill between the two leaves a `last` that has not yet claimed the new best epoch, so a resume redoes
    that epoch instead of reporting an older `best` as it. Under torchrun every process calls this
    (with FSDP gathering the full weights is collective); rank 0 writes."""
    from cocobench import distributed
    from cocobench.engine import THOUGHT_PROJECTION, thought_projection
    from cocobench.models import save_checkpoint

    full = distributed.full_state_dict(net) if net is not None else None  # FSDP: gathered; else None (save directly)
    optimizer_state = distributed.optimizer_state(net, optimizer) if net is not None else optimizer.state_dict()
    if not distributed.is_main():
        return
    metadata = {"method": cfg.method, "config": cfg.to_dict(), "epoch": state.epoch - 1, "best_accuracy": state.best_accuracy}
    state_dict, classifier_state = (None, classifier.state_dict() if classifier is not None else None)
    if full is not None:
        # named_parameters lists a tied weight once (GPT-2's wte, not lm_head), as save_pretrained writes it
        own = {name for name, _ in model.named_parameters()} | {name for name, _ in model.named_buffers()}
        state_dict = {k.removeprefix("lm."): v for k, v in full.items() if k.startswith("lm.") and k.removeprefix("lm.") in own}
        classifier_state = {k.removeprefix("stop_classifier."): v for k, v in full.items() if k.startswith("stop_classifier.")} or None
    extra_files = {CLASSIFIER_WEIGHTS: classifier_state} if classifier_state is not None else {}
    if thought_projection(model) is not None:  # a file of its own: the safetensors stay a plain transformers model
        if state_dict is None:  # as the FSDP branch: a tied weight once, as save_pretrained writes it
            own = {name for name, _ in model.named_parameters()} | {name for name, _ in model.named_buffers()}
            state_dict = {k: v for k, v in model.state_dict().items() if k in own}
        prefix = THOUGHT_PROJECTION + "."
        extra_files[PROJECTION_WEIGHTS] = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.startswith(prefix)}
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(prefix)}
    trainer = {"state": asdict(state), "optimizer": optimizer_state}
    layout = RunDir(run_dir)
    if best:
        save_checkpoint(layout.best, model, tokenizer, metadata, extra_files=extra_files, state_dict=state_dict)
    save_checkpoint(layout.last, model, tokenizer, metadata, extra_files={TRAINER_STATE: trainer, **extra_files}, state_dict=state_dict)


def load_run_checkpoint(path: Path) -> tuple[Any, Any, dict[str, Any], Any]:
    """(model, tokenizer, metadata, stop classifier or None) from a checkpoint directory; a saved
    thought projection (CODI) is put back on the model."""
    from cocobench.engine import StopClassifier, attach_projection, thought_projection
    from cocobench.models import load_checkpoint

    model, tokenizer, metadata = load_checkpoint(path)
    weights = Path(path) / PROJECTION_WEIGHTS
    if weights.is_file():
        state = load_torch_file(weights, weights_only=True)
        try:
            attach_projection(model, state["net.0.weight"].shape[-1])
            thought_projection(model).load_state_dict(state)
        except (AttributeError, TypeError, IndexError, KeyError, RuntimeError) as exc:  # not a projection's weights
            raise unreadable_checkpoint(Path(path), exc, PROJECTION_WEIGHTS) from None
    classifier = None
    weights = Path(path) / CLASSIFIER_WEIGHTS
    if weights.is_file():
        state = load_torch_file(weights, weights_only=True)
        try:
            classifier = StopClassifier(next(iter(state.values())).shape[-1])
            classifier.load_state_dict(state)
        except (AttributeError, StopIteration, IndexError, KeyError, RuntimeError) as exc:  # not a probe's weights
            raise unreadable_checkpoint(Path(path), exc, CLASSIFIER_WEIGHTS) from None
    return model, tokenizer, metadata, classifier


def checkpoint_fingerprint(path: Path) -> str:
    """sha256 over what a run loads to start from a checkpoint (weights, model config, tokenizer, stop
    classifier): every file but the optimizer/trainer state and cocobench's metadata."""
    from cocobench.io import file_fingerprint, json_fingerprint
    from cocobench.models import METADATA_FILE, require_checkpoint

    path = require_checkpoint(path, "--init-from")
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.name not in (TRAINER_STATE, METADATA_FILE))
    return json_fingerprint({str(f.relative_to(path)): file_fingerprint(f) for f in files})


def load_training_state(path: Path, optimizer, net=None):
    from cocobench import distributed

    file = Path(path) / TRAINER_STATE
    if not file.is_file():
        raise CocobenchError(f"'{path}' has no {TRAINER_STATE}; it is not a resumable checkpoint")
    saved = load_torch_file(file, weights_only=False)
    try:
        if net is not None:
            distributed.load_optimizer_state(net, optimizer, saved["optimizer"])
        else:
            optimizer.load_state_dict(saved["optimizer"])
        return TrainState(**saved["state"])
    except (TypeError, KeyError, ValueError, IndexError, RuntimeError) as exc:  # loads, but is not this run's trainer state
        raise unreadable_checkpoint(Path(path), exc, TRAINER_STATE) from None


def saved_train_state(path: Path) -> dict[str, Any]:
    """The TrainState fields a resumable checkpoint recorded (epoch, best_epoch, ...), without the
    optimizer; a file that is not a trainer state is a one-line error naming it."""
    saved = load_torch_file(Path(path) / TRAINER_STATE, weights_only=False)
    state = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(state, dict) or "epoch" not in state:
        raise unreadable_checkpoint(Path(path), ValueError("no trainer state in it"), TRAINER_STATE)
    return state


def load_torch_file(file: Path, *, weights_only: bool) -> Any:
    """torch.load on CPU; a truncated or random file is a one-line error naming it."""
    try:
        return torch.load(file, map_location="cpu", weights_only=weights_only)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError, zipfile.BadZipFile) as exc:
        raise unreadable_checkpoint(file.parent, exc, file.name) from None
