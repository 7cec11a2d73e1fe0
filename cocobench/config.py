"""Run settings: one dataclass whose field docs become `--help`; YAML gives the same fields.

Precedence (lm-eval style): dataclass defaults < `--config` YAML < command line. Contradictory values
are rejected in `validate()`, before any work starts. Defaults follow the paper (SPEC sections 2-4)
unless a comment says otherwise.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cocobench.device import PRECISIONS
from cocobench.errors import CocobenchError, unknown_name

LATENT_STOPS = ("fixed", "classifier")
OPTIMIZER_RESETS = ("stage", "epoch", "never")
MAX_SEED = 2**32 - 1  # what every seeded library takes (NumPy's limit); torch's 2**64 - 1 would overflow the trainer's derived seeds
INFINITE_ALLOWED = ("removal_smoothing",)  # inf means "no smoothing"; every other float setting must be finite


@dataclass
class RunConfig:
    # --- what to run ---
    task: str | None = None  # prosqa|prontoqa|mult|gsm; without --data, its default data is generated; neither: prosqa
    data: str | None = None  # a directory holding train/valid/test splits in the example format
    method: str = "coconut"
    model: str = "gpt2-tiny"  # a preset (gpt2-tiny, gpt2-cpu, gpt2-124m, llama-tiny), local path or HF id
    seed: int = 0
    out: str | None = None  # run directory; default runs/<task>-<method>[-<changed options>]-seed<seed>
    init_from: str | None = None  # start from this checkpoint's weights (e.g. GSM's CoT-trained stage 0)
    # --- training (AdamW, constant lr, no schedule: the paper's choice) ---
    epochs: int = 50
    batch_size: int = 32  # examples per micro-batch (per process)
    grad_accum: int = 4  # micro-batches per optimizer step: 32 x 4 = the paper's effective batch of 128
    lr: float = 1e-4
    weight_decay: float = 0.01
    grad_clip: float | None = None  # max grad norm; iCoT uses 1.0, Coconut none
    # --- evaluation ---
    max_new_tokens: int = 128  # the paper's 128 (64 for GSM8k)
    eval_batch_size: int = 64
    limit_train: int | None = None  # use only the first N training examples
    limit_eval: int | None = None  # use only the first N validation and test examples
    # --- Coconut family ---
    c: int = 1  # continuous thoughts per reasoning step
    max_latent_stage: int = 6
    epochs_per_stage: int = 5
    pad_latent_to_max: bool = True  # past the last stage insert max_latent_stage*c thoughts (official default)
    uniform_prob: float = 0.0  # probability of training an example at a uniformly drawn stage; main runs 0, the analysis model 0.3 (paper v2, authors' README) or 0.05 (the author's later recollection)
    reset_optimizer: str = "stage"  # stage (paper) | epoch (official code) | never
    latent_stop: str = "fixed"  # fixed number of thoughts (paper) | classifier (learned stop probe)
    k: int | None = None  # thoughts at inference; default max_latent_stage*c; more than training used is allowed
    max_thoughts: int | None = None  # cap for the classifier stop; default max_latent_stage*c
    pause_tokens: int | None = None  # pause method's M; default max_latent_stage*c (6 in the paper)
    # --- iCoT ---
    remove_per_epoch: int = 8
    removal_smoothing: float = 4.0  # lambda of P(extra removed tokens = o) ~ exp(-lambda*o)
    remove_all_after: int | None = None  # once this many tokens are scheduled, drop the whole chain (39 for GSM8k)
    # --- output (never changes the result) ---
    quiet: bool = False
    resume: bool = False
    overwrite: bool = False  # start over in a run directory that already holds files (never with resume)
    wandb: bool = False
    tensorboard: bool = False
    # --- execution (how, not what: never in `options`) ---
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 (TF32 matmuls on CUDA) | bf16; recorded resolved
    fsdp: bool = False  # under torchrun: shard parameters, gradients and optimizer state (FSDP2) instead of DDP

    def validate(self) -> RunConfig:
        from cocobench.methods import method_names
        from cocobench.tasks import task_names

        check_numbers(self)
        if self.task is None and self.data is None:
            self.task = DEFAULT_TASK
        if self.task is not None and self.task not in task_names():
            raise unknown_name("task", self.task, task_names())
        if self.method not in method_names():
            raise unknown_name("method", self.method, method_names())
        for name in ("epochs", "batch_size", "grad_accum", "eval_batch_size", "max_new_tokens", "max_latent_stage", "epochs_per_stage", "remove_per_epoch"):
            if getattr(self, name) <= 0:
                raise CocobenchError(f"--{_flag(name)} must be a positive integer, got {getattr(self, name)}")
        if self.c <= 0:
            raise CocobenchError(f"--c must be at least 1 continuous thought per step, got {self.c}")
        for name in ("limit_train", "limit_eval", "pause_tokens", "max_thoughts", "remove_all_after"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise CocobenchError(f"--{_flag(name)} must be a positive integer, got {value}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise CocobenchError(f"--lr must be > 0 and --weight-decay >= 0, got {self.lr} and {self.weight_decay}")
        if not 0.0 <= self.uniform_prob <= 1.0:
            raise CocobenchError(f"--uniform-prob is a probability in [0, 1], got {self.uniform_prob}")
        if self.reset_optimizer not in OPTIMIZER_RESETS:
            raise CocobenchError(f"--reset-optimizer must be one of {', '.join(OPTIMIZER_RESETS)}, got '{self.reset_optimizer}'")
        if self.precision not in PRECISIONS:
            raise CocobenchError(f"--precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.latent_stop not in LATENT_STOPS:
            raise CocobenchError(f"--latent-stop must be one of {', '.join(LATENT_STOPS)}, got '{self.latent_stop}'")
        if self.k is not None and self.k < 0:
            # No upper bound here: more thoughts than training used is an experiment (paper Figure 3);
            # only the model's context bounds it, checked once the model and prompts are known.
            raise CocobenchError(f"--k must be 0 or more thoughts at inference, got {self.k}")
        return self

    @property
    def thoughts(self) -> int:
        """Thoughts at inference (fixed stop)."""
        return self.max_latent_stage * self.c if self.k is None else self.k

    @property
    def max_thoughts_allowed(self) -> int:
        return self.max_latent_stage * self.c

    def run_name(self) -> str:
        """runs/<task>-<method>-seed<seed>, with the result-defining options that differ from the
        defaults named in between (`prosqa-coconut-c2-seed0`), so that a c=2 run never lands on a
        c=1 run's directory; past a few of them, the first ones and a short hash of all."""
        source = self.task or Path(self.data or "data").name
        changed = self.changed_options()
        parts = [_name_part(name, value) for name, value in changed.items()]
        if len(parts) > NAMED_OPTIONS or len("-".join(parts)) > 60:
            from cocobench.io import json_fingerprint

            parts = parts[: NAMED_OPTIONS - 1] + ["h" + json_fingerprint(changed).split(":")[1][:8]]  # h: a hash of all of them
        return "-".join([source, self.method, *parts, f"seed{self.seed}"])

    def changed_options(self) -> dict[str, Any]:
        """The options (see `options`) whose values differ from the defaults, in field order."""
        defaults = RunConfig().options()
        return {name: value for name, value in self.options().items() if value != defaults[name]}

    def options(self) -> dict[str, Any]:
        """Settings that change the result: what runs are matched on (with task, method and seed)."""
        skip = {"task", "data", "method", "seed", "out", "init_from", "eval_batch_size", "precision", "fsdp", *OUTPUT_FIELDS}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_numbers(cfg: RunConfig) -> None:
    """Numbers no setting accepts: NaN or infinite floats (`--lr nan`, YAML `lr: .nan`), a gradient
    clip <= 0 (a negative max norm flips the gradient), a seed outside 0..MAX_SEED."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and f.name not in INFINITE_ALLOWED)):
            raise CocobenchError(f"--{_flag(f.name)} must be a finite number, got {value}")
    if cfg.grad_clip is not None and cfg.grad_clip <= 0:
        raise CocobenchError(f"--grad-clip is a max gradient norm and must be > 0 (leave it out for no clipping), got {cfg.grad_clip}")
    if isinstance(cfg.seed, int) and not 0 <= cfg.seed <= MAX_SEED:
        raise CocobenchError(f"--seed must be in 0..{MAX_SEED} (2**32 - 1), got {cfg.seed}")


OUTPUT_FIELDS = ("quiet", "resume", "overwrite", "wandb", "tensorboard")
DEFAULT_TASK = "prosqa"  # the paper's headline task: what `run` trains on given neither --task nor --data
NAMED_OPTIONS = 3  # run names spell out at most this many changed options


def _name_part(name: str, value: Any) -> str:
    """One changed option in a run name: `c2`, `lr0.001`, `no-pad-latent-to-max`; filesystem-safe."""
    import re

    if isinstance(value, bool):
        return _flag(name) if value else f"no-{_flag(name)}"
    text = Path(str(value)).name if name == "model" else str(value)  # a path or hub id: its last part
    return _flag(name) + re.sub(r"[^A-Za-z0-9._-]+", "_", text)

FIELD_NAMES = tuple(f.name for f in fields(RunConfig))


def _flag(name: str) -> str:
    return name.replace("_", "-")


def normalize_keys(mapping: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept `max-latent-stage` or `max_latent_stage`; reject keys that are not settings."""
    out = {}
    for key, value in mapping.items():
        name = str(key).replace("-", "_")
        if name not in FIELD_NAMES:
            close = difflib.get_close_matches(_flag(name), [_flag(n) for n in FIELD_NAMES], n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise CocobenchError(f"unknown key '{key}' in {source}; {hint}see `cocobench run --help` for the settings")
        out[name] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise CocobenchError(f"config file '{path}' {what}; pass a YAML file of run settings")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise CocobenchError(f"{path}: not UTF-8 text (a binary file?); pass a YAML file of run settings") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f"{path}:{line + 1}" if line is not None else str(path)
        raise CocobenchError(f"{where}: malformed YAML ({getattr(exc, 'problem', exc)}); fix the file") from None
    if not isinstance(data, dict):
        raise CocobenchError(f"{path}: expected a mapping of setting: value")
    return data


def resolve_config(yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> RunConfig:
    """defaults < base (e.g. a checkpoint's or a suite's settings) < YAML file < command line (non-None values)."""
    values: dict[str, Any] = {}
    if base:
        values.update(normalize_keys(base, "settings"))
    if yaml_path is not None:
        values.update(normalize_keys(load_yaml(yaml_path), str(yaml_path)))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return coerce(values).validate()


def coerce(values: dict[str, Any]) -> RunConfig:
    """Build a RunConfig, checking YAML value types against the field annotations."""
    cfg = RunConfig()
    for f in fields(RunConfig):
        if f.name not in values:
            continue
        value = values[f.name]
        default = getattr(cfg, f.name)
        kinds = _field_kinds(f)
        if value is None and type(None) in kinds:
            pass
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not any(isinstance(value, k) and not (k is int and isinstance(value, bool)) for k in kinds):
            raise CocobenchError(f"setting '{_flag(f.name)}' must be {' or '.join(k.__name__ for k in kinds)}, got {value!r} (default {default!r})")
        setattr(cfg, f.name, value)
    return cfg


def _field_kinds(f: dataclasses.Field) -> tuple[type, ...]:
    names = [part.strip() for part in str(f.type).split("|")]
    table = {"str": str, "int": int, "float": float, "bool": bool, "None": type(None)}
    return tuple(table[n] for n in names)


def config_yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)

