"""Run settings: one typed dataclass per concern, each field holding its default, its help and its check.

Every setting is declared once, with `setting(...)`: the default (the paper's, unless the help says
otherwise), the help text that `cocobench run --help` shows (and `eval --help`, for the settings an
evaluation may override), and the check its values must pass. The command-line options of `run` and
`eval` are generated from these fields (cocobench/cli/setting_options.py), so a new method knob is one
field here and nothing else.

`RunConfig` joins the groups by inheritance, so access and YAML keys stay flat (`cfg.lr`, `lr: 1e-4`),
config.yaml and results.json keep their keys and order, and code that only needs a group's settings
can say so in its type. Precedence (lm-eval style): dataclass defaults < `--config` YAML < command line;
`validate()` checks every field, then the settings that must agree, before any work starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cocobench.checks import positive, seed_range
from cocobench.errors import CocobenchError, unknown_name

LATENT_STOPS = ("fixed", "classifier")
CODI_LOSSES = ("smooth_l1", "l1")
OPTIMIZER_RESETS = ("stage", "epoch", "never")
SUPERVISIONS = ("rest-of-chain", "next-node", "frontier-node")
PRECISIONS = ("auto", "fp32", "bf16")  # cocobench.device says what each means
DEFAULT_TASK = "prosqa"  # the paper's headline task: what `run` trains on given neither --task nor --data

Check = Callable[[str, Any], None]  # (the option's flag, a value that is not None) -> raises CocobenchError


def setting(default: Any, help: str, *, check: Check | None = None, note: str | None = None, choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None,
            short: str | None = None, path: bool = False, option: bool = True, only_when_set: bool = False, evaluation: bool = False,
            infinite: bool = False, cli: bool = True, family: str | None = None) -> Any:
    """A settings field. `help` is the option's --help text (`{choices}` is filled in), `note` the default
    to show when the value alone would not say it (`max_latent_stage*c`). `check` and `choices` are its
    checks (None always passes: "not set"); a float must be finite unless `infinite`. `option`: the
    setting defines the result and goes into results.json `options` (what runs are paired on), with
    `only_when_set` only when not None (a later setting: older runs' options stay as they were), and with
    `family` only for the methods of that family (`codi`: codi and codi-*), so that a method's own knobs
    never enter the options of the other methods' runs;
    `evaluation`: `cocobench eval` may override it; `cli`: `run` has an option for it (not for the
    settings a suite sets); `path`: the command line takes a path; `short`: a one-letter alias."""
    metadata = {"help": help, "check": check, "note": note, "choices": choices, "short": short, "path": path, "option": option,
                "only_when_set": only_when_set, "evaluation": evaluation, "infinite": infinite, "cli": cli, "family": family}
    return field(default=default, metadata=metadata)


def flag(name: str) -> str:
    """The command-line spelling of a setting: `max_latent_stage` -> `max-latent-stage`."""
    return name.replace("_", "-")


# --- checks (each gets the option's flag, e.g. `--epochs`, and a value that is not None; positive and
# seed_range, which the generators' settings share, live in cocobench/checks.py) ---
MAX_EPOCHS = 100_000  # far past any schedule in the paper (50); the schedule and estimates walk every epoch


def epoch_count(option: str, value: int) -> None:
    positive(option, value)
    if value > MAX_EPOCHS:
        raise CocobenchError(f"{option} must be at most {MAX_EPOCHS:,}, got {value}; lower it")


def at_least_one_thought(option: str, value: int) -> None:
    if value < 1:
        raise CocobenchError(f"{option} must be at least 1 continuous thought per step, got {value}")


def no_negative_thoughts(option: str, value: int) -> None:
    # No upper bound: more thoughts than training used is an experiment (paper Figure 3); only the
    # model's context bounds it, checked once the model and prompts are known (cocobench.lengths).
    if value < 0:
        raise CocobenchError(f"{option} must be 0 or more thoughts at inference, got {value}")


def greater_than_zero(option: str, value: float) -> None:
    if not value > 0:
        raise CocobenchError(f"{option} must be > 0, got {value}")


def not_negative(option: str, value: float) -> None:
    if value < 0:
        raise CocobenchError(f"{option} must be >= 0, got {value}")


def max_gradient_norm(option: str, value: float) -> None:
    if value <= 0:  # a negative max norm flips the gradient: the run would climb the loss
        raise CocobenchError(f"{option} is a max gradient norm and must be > 0 (leave it out for no clipping), got {value}")


def probability(option: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise CocobenchError(f"{option} is a probability in [0, 1], got {value}")


def smoothing(option: str, value: float) -> None:
    if not value > 0:
        raise CocobenchError(f"{option} (lambda) must be > 0 (inf: no smoothing), got {value}")


def _task_names() -> list[str]:
    from cocobench.tasks import task_names

    return task_names()


def _method_names() -> list[str]:
    from cocobench.methods import method_names

    return method_names()


def choice_names(choices) -> tuple[str, ...]:
    return tuple(choices() if callable(choices) else choices)


# --- the settings, by concern (the field order is config.yaml's and results.json's) ---
@dataclass
class RunSettings:
    """What to run: the task and its data, the method, the model, the seed, where to write."""

    task: str | None = setting(None, "The task: {choices}; without --data its default data is generated (made once).", choices=_task_names,
                               note="prosqa, the paper's headline task, when no --data", option=False)
    data: str | None = setting(None, "Directory with train/valid/test splits (JSON or JSONL in the example format), a Hugging Face "
                                     "dataset (hf:ID or hf:ID@REVISION), or a local datasets folder (save_to_disk, parquet, arrow).",
                               path=True, option=False)
    method: str = setting("coconut", "The method: {choices}.", choices=_method_names, short="-m", option=False)
    model: str = setting("gpt2-tiny", "Preset (gpt2-tiny, gpt2-cpu, gpt2-124m, llama-tiny), a save_pretrained directory, "
                                      "or a Hugging Face hub id (cache first, downloaded when needed).")
    seed: int = setting(0, "Seed for initialisation, data order and sampling.", check=seed_range, option=False)
    out: str | None = setting(None, "Run directory.", path=True, option=False,
                              note="runs/<task>-<method>-seed<seed>, with the options that differ from the defaults before the seed, e.g. runs/prosqa-coconut-c2-seed0")
    init_from: str | None = setting(None, "Start from this checkpoint's weights (e.g. a CoT-trained stage 0).", path=True, option=False)
    warmup: str | None = setting(None, "The suite's shared warm-up this run starts from (see cocobench/suite.py).", only_when_set=True, cli=False)
    suite_stage: str | None = setting(None, "'warmup' for a suite's shared warm-up runs (tables leave them out of the rows).", option=False, cli=False)
    # last of its group: config.yaml keeps the order it always had
    columns: str | None = setting(None, "For a datasets --data: which columns hold question, steps and answer "
                                        "(e.g. steps=cot); known datasets and cocobench's own columns need none.", option=False)


@dataclass
class TrainingSettings:
    """The optimizer and its schedule: AdamW at a constant learning rate, no warm-up (the paper's choice)."""

    epochs: int = setting(50, "Training epochs.", check=epoch_count)
    batch_size: int = setting(32, "Examples per micro-batch (per process).", check=positive)
    grad_accum: int = setting(4, "Micro-batches per optimizer step (32 x 4: the paper's effective batch of 128).", check=positive)
    lr: float = setting(1e-4, "AdamW learning rate (constant).", check=greater_than_zero)
    weight_decay: float = setting(0.01, "AdamW weight decay.", check=not_negative)
    grad_clip: float | None = setting(None, "Max gradient norm (iCoT uses 1.0, Coconut none).", check=max_gradient_norm, note="none (no clipping)")
    augment: bool | None = setting(None, "Redraw, each time an example is trained on, the order of ProsQA's facts and of its two options "
                                         "(symbolic ProsQA: also the shortest path CoT writes), as \"Reasoning by Superposition\" does.",
                                   note="on for symbolic ProsQA, off otherwise", only_when_set=True)


@dataclass
class EvaluationSettings:
    """Generation at validation and test."""

    max_new_tokens: int = setting(128, "Generation limit per example (the paper's 128; 64 for GSM8k).", check=positive, evaluation=True)
    eval_batch_size: int = setting(64, "Examples per generation batch.", check=positive, option=False, evaluation=True)


@dataclass
class DataSettings:
    """How much of the data a run uses (quick runs)."""

    limit_train: int | None = setting(None, "Use only the first N training examples.", check=positive, note="all")
    limit_eval: int | None = setting(None, "Use only the first N examples of each evaluated split (validation and test).", check=positive, note="all", evaluation=True)


@dataclass
class CoconutSettings:
    """Continuous thoughts (Coconut and its controls): the curriculum, and how many thoughts at inference."""

    c: int = setting(1, "Continuous thoughts per reasoning step.", check=at_least_one_thought)
    max_latent_stage: int = setting(6, "Last curriculum stage (stage s replaces the first s steps with s*c thoughts).", check=positive)
    epochs_per_stage: int = setting(5, "Epochs per curriculum stage.", check=positive)
    pad_latent_to_max: bool = setting(True, "Past the last stage use max_latent_stage*c thoughts for every example (the official code's default).")
    uniform_prob: float = setting(0.0, "Probability of training an example at a stage drawn uniformly from 0..#steps, for the analysis model of "
                                       "`analyze ksweep`/`probe`: the paper (v2) and the authors' README say 0.3, the first author later "
                                       "recalled 0.05; the main runs use 0.", check=probability)
    reset_optimizer: str = setting("stage", "When AdamW starts afresh: stage (the paper) | epoch (the official code) | never.", choices=OPTIMIZER_RESETS)
    latent_stop: str = setting("fixed", "fixed number of thoughts | classifier (a learned stop probe; eval needs a checkpoint trained with one).",
                               choices=LATENT_STOPS, evaluation=True)
    k: int | None = setting(None, "Thoughts at inference; more than training used is allowed (bounded by the model's context).",
                            check=no_negative_thoughts, note="max_latent_stage*c", evaluation=True)
    max_thoughts: int | None = setting(None, "Cap on thoughts with --latent-stop classifier.", check=positive, note="max_latent_stage*c", evaluation=True)
    supervision: str | None = setting(None, "What trains the thoughts at stage s: rest-of-chain (the paper: the steps left, then the answer) | "
                                            "next-node (\"Reasoning by Superposition\": one node of a shortest path at depth s+1, the answer "
                                            "after all the example's steps; ProsQA with neighbor_k) | frontier-node (its Coconut-BFS: any node "
                                            "at depth s+1).", choices=SUPERVISIONS, note="rest-of-chain", only_when_set=True)


@dataclass
class PauseSettings:
    """Pause tokens (the pause method)."""

    pause_tokens: int | None = setting(None, "Pause tokens for the pause method (M).", check=positive, note="max_latent_stage*c")


@dataclass
class ICoTSettings:
    """Stepwise internalization: the chain of thought removed a few tokens at a time."""

    remove_per_epoch: int = setting(8, "CoT tokens removed per epoch.", check=positive)
    removal_smoothing: float = setting(4.0, "Lambda of the removal smoothing, P(o more tokens removed) ~ exp(-lambda*o); inf: none.", check=smoothing, infinite=True)
    remove_all_after: int | None = setting(None, "Drop the whole chain once this many tokens are scheduled (39 for GSM8k).", check=positive, note="never")


@dataclass
class CodiSettings:
    """CODI (Shen et al. 2025, arXiv 2502.21074; docs/methods.md): one stage; student CE + distill weight * distillation + teacher weight * teacher CE."""

    codi_thoughts: int = setting(6, "CODI's continuous thoughts between bot and eot, in training and (unless --k) at inference (the paper's 6).",
                                 check=positive, family="codi")
    codi_teacher_weight: float = setting(1.0, "Weight of the teacher's cross-entropy (gamma; the paper's 1 on GPT-2: 0.5 gave 38.2%, 2 gave 41.9%).",
                                         check=not_negative, family="codi")
    codi_distill_weight: float = setting(1.0, "Weight of the hidden-state distillation (beta; the paper's 1 on GPT-2, 20 for Llama-1B; codi-no-distill uses 0).",
                                         check=not_negative, family="codi")
    codi_loss: str = setting("smooth_l1", "Distillation distance per layer, divided by the teacher's std: {choices} (the paper's code and appendix "
                                          "use smooth-L1, its equation says L1).", choices=CODI_LOSSES, family="codi")


@dataclass
class OutputSettings:
    """What a run prints and logs, and what it does with its directory: never the result."""

    quiet: bool = setting(False, "No progress output.", short="-q", option=False)
    resume: bool = setting(False, "Continue the interrupted run in --out from its last checkpoint.", option=False)
    overwrite: bool = setting(False, "Start over in a run directory that already holds files: what a run wrote there (checkpoints, results, "
                                     "config, logs) is removed first; never with --resume.", option=False)
    wandb: bool = setting(False, "Log to Weights & Biases (needs the wandb package).", option=False)
    tensorboard: bool = setting(False, "Log to TensorBoard (needs the tensorboard package).", option=False)


@dataclass
class ExecutionSettings:
    """How the run computes, not what: never in `options` (precision is recorded, resolved)."""

    precision: str = setting("auto", "auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 (TF32 matmuls on CUDA) | bf16 (autocast).",
                             choices=PRECISIONS, option=False, evaluation=True)
    fsdp: bool = setting(False, "Under torchrun: shard the model with FSDP2 instead of replicating it with DDP (for models that do not fit one device).",
                         option=False)


# The groups in the order of their fields. A dataclass collects its bases' fields from the last base to
# the first, so RunConfig lists them reversed.
SETTING_GROUPS = (RunSettings, TrainingSettings, EvaluationSettings, DataSettings, CoconutSettings, PauseSettings, ICoTSettings,
                  CodiSettings, OutputSettings, ExecutionSettings)


@dataclass
class RunConfig(*reversed(SETTING_GROUPS)):
    """Every setting of a run, flat: `cfg.lr`, `cfg.c`, as in config.yaml and results.json."""

    def validate(self) -> RunConfig:
        """Check every setting (its field's check), then the settings that must agree; fills in the task."""
        for f in fields(self):
            check_value(f, getattr(self, f.name))
        if self.resume and self.overwrite:
            raise CocobenchError("--resume continues the run in its directory and --overwrite starts it over; pass one of them")
        if self.task is None and self.data is None:
            self.task = DEFAULT_TASK
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
        defaults = RunConfig(method=self.method).options()
        return {name: value for name, value in self.options().items() if value != defaults.get(name)}

    def options(self) -> dict[str, Any]:
        """Settings that change the result: what runs are matched on (with task, method and seed)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.metadata["option"] and not (f.metadata["only_when_set"] and getattr(self, f.name) is None)
                and in_family(self.method, f.metadata["family"]) and not ignored_by(self.method, f.name)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Settings a method family never reads: not its options, so that runs differing only in them pair.
# CODI trains one stage of codi_thoughts thoughts: Coconut's curriculum knobs do nothing there.
IGNORED_BY_FAMILY = {"codi": ("c", "max_latent_stage", "epochs_per_stage", "pad_latent_to_max", "uniform_prob")}


def ignored_by(method: str, name: str) -> bool:
    """Whether `method` never reads the setting `name` (see IGNORED_BY_FAMILY)."""
    return any(in_family(method, family) and name in names for family, names in IGNORED_BY_FAMILY.items())


def in_family(method: str, family: str | None) -> bool:
    """Whether `method` belongs to a setting's method family (None: every method)."""
    return family is None or method == family or method.startswith(family + "-")


def check_value(f: dataclasses.Field, value: Any) -> None:
    """One setting's checks: finite floats (`--lr nan`, YAML `lr: .nan`), its choices, its own check."""
    if value is None:
        return
    option = f"--{flag(f.name)}"
    if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and not f.metadata["infinite"])):
        raise CocobenchError(f"{option} must be a finite number, got {value}")
    choices = f.metadata["choices"]
    if choices is not None and value not in choice_names(choices):
        if callable(choices):  # a registry (tasks, methods): suggest the closest name
            raise unknown_name(f.name, value, choice_names(choices))
        raise CocobenchError(f"{option} must be one of {', '.join(choices)}, got '{value}'")
    if f.metadata["check"] is not None:
        f.metadata["check"](option, value)


FIELD_NAMES = tuple(f.name for f in fields(RunConfig))
EVALUATION_FIELDS = tuple(f.name for f in fields(RunConfig) if f.metadata["evaluation"])
OUTPUT_FIELDS = tuple(f.name for f in fields(OutputSettings))
NAMED_OPTIONS = 3  # run names spell out at most this many changed options


def group_of(name: str) -> type:
    """The settings group that declares the field `name`."""
    return next(group for group in SETTING_GROUPS if name in {f.name for f in fields(group)})


def _name_part(name: str, value: Any) -> str:
    """One changed option in a run name: `c2`, `lr0.001`, `no-pad-latent-to-max`; filesystem-safe."""
    import re

    if isinstance(value, bool):
        return flag(name) if value else f"no-{flag(name)}"
    text = Path(str(value)).name if name == "model" else str(value)  # a path or hub id: its last part
    return flag(name) + re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def normalize_keys(mapping: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept `max-latent-stage` or `max_latent_stage`; reject keys that are not settings."""
    out, spelt = {}, {}
    for key, value in mapping.items():
        name = str(key).replace("-", "_")
        if name not in FIELD_NAMES:
            close = difflib.get_close_matches(flag(name), [flag(n) for n in FIELD_NAMES], n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise CocobenchError(f"unknown key '{key}' in {source}; {hint}see `cocobench run --help` for the settings")
        if name in out:  # `max-latent-stage` and `max_latent_stage` both: which one was meant?
            raise CocobenchError(f"'{spelt[name]}' and '{key}' in {source} are the same setting; keep one of them")
        out[name], spelt[name] = value, key
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    class _UniqueKeyLoader(yaml.SafeLoader):
        """safe_load, except that a key given twice in one mapping is an error (PyYAML keeps the last, silently)."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden below it
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key '{key}' given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise CocobenchError(f"YAML file '{path}' {what}; pass a YAML file")  # --config or a suite
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError:
        raise CocobenchError(f"{path}: not UTF-8 text (a binary file?); pass a YAML file") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f"{path}:{line + 1}" if line is not None else str(path)
        raise CocobenchError(f"{where}: malformed YAML ({getattr(exc, 'problem', exc)}); fix the file") from None
    if not isinstance(data, dict):
        raise CocobenchError(f"{path}: expected a mapping (key: value lines), got a {type(data).__name__}")
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
        kinds = field_kinds(f)
        if value is None and type(None) in kinds:
            pass
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif float in kinds and isinstance(value, str) and _is_number(value):
            value = float(value)  # YAML 1.1 reads `lr: 1e-4` (no dot) as text
        elif not any(isinstance(value, k) and not (k is int and isinstance(value, bool)) for k in kinds):
            raise CocobenchError(f"setting '{flag(f.name)}' must be {' or '.join(k.__name__ for k in kinds)}, got {value!r} (default {default!r})")
        setattr(cfg, f.name, value)
    return cfg


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def field_kinds(f: dataclasses.Field) -> tuple[type, ...]:
    """The types a setting takes, from its annotation (`int | None` -> (int, NoneType))."""
    names = [part.strip() for part in str(f.type).split("|")]
    table = {"str": str, "int": int, "float": float, "bool": bool, "None": type(None)}
    return tuple(table[n] for n in names)


def config_yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)

