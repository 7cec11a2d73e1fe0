"""`cocobench run` end to end: data -> model -> method -> train -> evaluate on test -> results.json."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cocobench import distributed
from cocobench.batches import batch_indices
from cocobench.checkpoint_eval import run_test, write_evaluation
from cocobench.checkpoints import checkpoint_fingerprint, saved_train_state
from cocobench.config import RunConfig, config_yaml
from cocobench.errors import CocobenchError
from cocobench.examples import Example, find_split, load_examples, read_examples, sequence_text
from cocobench.hfdata import local_data_dir
from cocobench.io import (atomic_write_json, atomic_write_text, directory_lock, ensure_writable_dir, file_fingerprint,
                          holds_files, recover_directory, remove_outputs, remove_temporaries)
from cocobench.lengths import check_sequence_lengths
from cocobench.progress import TrainingReporter, log, quiet_libraries
from cocobench.results import utc_now
from cocobench.rundir import RUN_OUTPUTS, TRAINER_STATE, RunDir

RESULT_SETTINGS = ("seed", "method", "task", "precision")  # with RunConfig.options(): what a resume may not change
DEFAULT_DATA_ROOT = Path("data")


def prepare_data(cfg: RunConfig) -> tuple[str, Path]:
    """The task name and the data directory; generates the task's default data if no --data was given."""
    from cocobench.tasks import detect_task, get_task

    if cfg.data is not None:
        data_dir = local_data_dir(cfg.data, cfg.columns)
        test = load_examples(find_split(data_dir, "test"))
        if cfg.task is not None:
            from cocobench.datastats import check_task_of

            if test:
                check_task_of(get_task(cfg.task), test[0], f"data directory '{data_dir}'")
            return cfg.task, data_dir
        task = detect_task(test[0]) if test else None
        return (task.name if task else "custom"), data_dir
    task = get_task(cfg.task)
    data_dir = DEFAULT_DATA_ROOT / f"{task.name}-default"
    if not _default_data_is_current(data_dir, task.version):
        if task.generate_default is None:
            raise CocobenchError(f"task '{task.name}' has no generator; convert your files (`cocobench gen {task.name} --help`) and pass --data DIR")
        if distributed.is_main():
            log(f"generating default {task.name} data (generator version {task.version}) in {data_dir}", cfg.quiet)
            task.generate_default(data_dir)
        distributed.barrier()
    return task.name, data_dir


def _default_data_is_current(data_dir: Path, version: str | None) -> bool:
    """Default data exists and an older generator did not make it (a new version is made again)."""
    meta = data_dir / "meta.json"
    if not meta.is_file():
        return False
    try:
        made_by = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # damaged: made again (the directory is cocobench's own)
    return version is None or (isinstance(made_by, dict) and made_by.get("version") == version)


def load_splits(cfg: RunConfig, data_dir: Path) -> tuple[dict[str, list[Example]], dict[str, str]]:
    """The splits (limited by --limit-train/--limit-eval) and their files' fingerprints (`train_fingerprint`, ...)."""
    splits, fingerprints = {}, {}
    for split in ("train", "valid", "test"):
        examples, fingerprints[f"{split}_fingerprint"] = read_examples(find_split(data_dir, split))
        limit = cfg.limit_train if split == "train" else cfg.limit_eval
        splits[split] = examples[:limit] if limit else examples
    if not splits["train"] or not splits["test"]:
        raise CocobenchError(f"data directory '{data_dir}' has an empty train or test split")
    return splits, fingerprints


def vocabulary_texts(splits: dict[str, list[Example]]) -> list[str]:
    """Text the word-level tokenizer is built from: full training examples, and the questions of the
    evaluation splits (so every input word has a token; no evaluation answer or step is read)."""
    return list(VocabularyTexts(splits))


class VocabularyTexts(Sequence):
    """`vocabulary_texts(splits)`, each text made when it is read: a vocabulary read back from the
    cache reads none of them."""

    def __init__(self, splits: dict[str, list[Example]]):
        self.train, self.evaluated = splits["train"], [e for s in ("valid", "test") for e in splits[s]]

    def __len__(self) -> int:
        return len(self.train) + len(self.evaluated)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # negative indices; IndexError past the end
        return sequence_text(self.train[i]) if i < len(self.train) else self.evaluated[i - len(self.train)]["question"]

    def __iter__(self):
        yield from map(sequence_text, self.train)
        for example in self.evaluated:
            yield example["question"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def run_experiment(cfg: RunConfig) -> dict[str, Any]:
    from cocobench.device import pick_device

    cfg.validate()  # settings changed after resolve_config (a suite sets resume) are checked too
    quiet_libraries()
    distributed.init_from_env()
    seed_everything(cfg.seed)
    device = pick_device()
    run_dir = RunDir.of(cfg).path
    # One process per run directory (under torchrun, rank 0 holds it for all): two would interleave checkpoints.
    with directory_lock(run_dir) if distributed.is_main() else contextlib.nullcontext():
        results = _run_locked(cfg, run_dir, device)
    distributed.shutdown()
    return results


def _run_locked(cfg: RunConfig, run_dir: Path, device) -> dict[str, Any]:
    from cocobench.checkpoints import load_run_checkpoint
    from cocobench.engine import StopClassifier
    from cocobench.loggers import Loggers
    from cocobench.methods import get_method
    from cocobench.models import METADATA_FILE, build_model_and_tokenizer
    from cocobench.tokenized import data_source, prefill_segments
    from cocobench.train import train

    layout = RunDir(run_dir)
    last = layout.last
    if cfg.resume and distributed.is_main():  # a kill mid-write: finish or undo the checkpoint swaps, remove half-written files
        for checkpoint in (layout.last, layout.best):
            recover_directory(checkpoint)
        remove_temporaries(run_dir, RUN_OUTPUTS)
    distributed.barrier()
    from_checkpoint = cfg.resume and layout.resumable()
    if cfg.resume and not from_checkpoint:
        if not layout.config.is_file():
            raise CocobenchError(f"nothing to resume in '{run_dir}': it has no checkpoints/last; start the run without --resume")
        log(f"note: '{run_dir}' was stopped before its first checkpoint: its run starts again from the first epoch", cfg.quiet)
    if not cfg.resume and not cfg.overwrite and holds_files(run_dir):
        what = "a run" if layout.checkpoints.exists() else "files"
        raise CocobenchError(f"'{run_dir}' already holds {what}; pass --resume to continue it, --overwrite to start over, or choose another --out")
    if from_checkpoint:
        saved_state = saved_train_state(last)
        check_best_checkpoint(run_dir, saved_state["best_epoch"], redoing=saved_state["epoch"])
    if cfg.resume:  # before any data is made or read: the settings are the checkpoint's
        check_resume_settings(cfg, run_dir, last if from_checkpoint else None)

    task_name, data_dir = prepare_data(cfg)
    splits, data_fingerprints = load_splits(cfg, data_dir)  # the fingerprints of the bytes the examples were read from
    source = data_source(data_fingerprints, limit_train=cfg.limit_train, limit_eval=cfg.limit_eval)  # what the splits are a function of: names their caches
    init_fingerprint = init_checkpoint_fingerprint(cfg, run_dir)
    start = (read_start(run_dir) if cfg.resume else {}) or {"started_at": utc_now(), **data_fingerprints}
    if cfg.resume:
        check_resume_data(run_dir, start, data_fingerprints)

    if from_checkpoint:
        model, tokenizer, _, classifier = load_run_checkpoint(last)
    elif cfg.init_from:
        model, tokenizer, init_metadata, classifier = load_run_checkpoint(Path(cfg.init_from))
        check_init_model(cfg, model, init_metadata)
        check_known_words(tokenizer, vocabulary_texts(splits), f"--init-from '{cfg.init_from}'")
    else:
        model, tokenizer = build_model_and_tokenizer(cfg.model, train_texts=VocabularyTexts(splits), seed=cfg.seed,
                                                     symbolic=task_name == "prosqa-symbolic", vocabulary_source=source)
        classifier = None
    if cfg.latent_stop == "classifier" and classifier is None:
        torch.manual_seed(cfg.seed)
        classifier = StopClassifier(model.config.get_text_config().hidden_size if hasattr(model.config, "get_text_config") else model.config.hidden_size)
    model.to(device)
    if classifier is not None:
        classifier.to(device)
    method = get_method(cfg.method, cfg, tokenizer)
    method.check_data(task_name, splits["train"])
    method.prepare_model(model, cfg.seed)  # CODI: the thought projection (kept when the checkpoint has one)
    prefill_segments(method, [*splits["train"], *splits["valid"], *splits["test"]], source=source)  # large data: tokenized once per data and tokenizer

    check_sequence_lengths(cfg, model, method, train=splits["train"], evaluate=splits["valid"] + splits["test"], source=source)
    if cfg.overwrite and distributed.is_main():  # only now: bad data, settings or checkpoints leave the old run as it was
        remove_outputs(run_dir, RUN_OUTPUTS)
    distributed.barrier()
    ensure_writable_dir(run_dir)  # only now, so that bad data, settings or checkpoints leave no empty run directory behind
    if distributed.is_main():
        write_config(run_dir, cfg)  # a resume records the settings it was allowed to change (eval batch size, loggers, ...)
        if not layout.start.is_file():  # a new run (a resumed one keeps its own)
            atomic_write_json(layout.start, start)
        if init_fingerprint:
            atomic_write_json(layout.init_from, {"init_from": str(cfg.init_from), "fingerprint": init_fingerprint})
    log(f"[bold]{run_dir.name}[/]: {task_name}, {cfg.method}, {cfg.model}, {len(splits['train'])} train / {len(splits['valid'])} valid / {len(splits['test'])} test, {device}", cfg.quiet)
    quiet = cfg.quiet or not distributed.is_main()
    if not quiet:
        describe_run(cfg, model, tokenizer, method, splits["train"], device)
    logger = (Loggers(cfg, run_dir) or None) if distributed.is_main() else None  # only rank 0 logs (wandb.init included)
    with TrainingReporter(run_dir.name, cfg.epochs, quiet, logger=logger) as reporter:
        state = train(cfg, model, tokenizer, method, splits["train"], splits["valid"], run_dir=run_dir, device=device,
                      stop_classifier=classifier, resume_from=last if from_checkpoint else None, reporter=reporter)

    check_best_checkpoint(run_dir, state.best_epoch)
    best = layout.best
    if not (best / METADATA_FILE).is_file() and cfg.fsdp and distributed.world()[1] > 1:
        best = last  # no validation split: the final weights, whole (the FSDP model holds shards)
    if (best / TRAINER_STATE).is_file() or (best / METADATA_FILE).is_file():
        model, tokenizer, _, classifier = load_run_checkpoint(best)
        model.to(device)
        if classifier is not None:
            classifier.to(device)
    return evaluate_and_write(cfg, model, tokenizer, method, splits["test"], run_dir=run_dir, task=task_name, test_file=find_split(data_dir, "test"),
                              train_file=find_split(data_dir, "train"), classifier=classifier, device=device, train_state=state,
                              init_fingerprint=init_fingerprint, started_at=start.get("started_at"))


MOSTLY_UNKNOWN = 0.1  # past this share of <unk> tokens a model cannot read its data (same-task data has none)


def check_init_model(cfg: RunConfig, model, metadata: dict[str, Any]) -> None:
    """The --init-from checkpoint must be the model the run records (`options.model`): a preset's
    architecture and sizes, or the name its own run recorded."""
    from cocobench.models import PRESETS

    recorded = (metadata.get("config") or {}).get("model") if isinstance(metadata.get("config"), dict) else None
    if cfg.model in PRESETS:
        arch, sizes, _ = PRESETS[cfg.model]
        agrees = model.config.model_type == arch and all(getattr(model.config, key, None) == value for key, value in sizes.items())
    else:
        agrees = recorded is None or recorded not in PRESETS
    if not agrees:
        held = f"'{recorded}'" if recorded else f"a {model.config.model_type} model of other sizes"
        raise CocobenchError(f"--init-from '{cfg.init_from}' holds {held}, not --model {cfg.model} (what the run would record); "
                             f"pass --model {recorded or 'NAME'} matching the checkpoint, or another --init-from")


def check_known_words(tokenizer, texts: list[str], source: str) -> None:
    """A start from a checkpoint keeps its tokenizer: data it mostly cannot read (other data's words)
    would train and test on <unk>."""
    if tokenizer.unk_token_id is None or not texts:
        return
    ids = [i for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in row]
    unknown = sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)
    if unknown > MOSTLY_UNKNOWN:
        raise CocobenchError(f"{unknown:.0%} of this data's tokens are unknown to the tokenizer of {source} (it was trained on other data); "
                             "start from a checkpoint trained on this task's data, or without --init-from")


def check_best_checkpoint(run_dir: Path, best_epoch: int | None, redoing: int | None = None) -> None:
    """checkpoints/best must hold the epoch the trainer state calls best, or the test results would describe
    another model. The trainer writes `best` before `last`, so a kill between the two leaves a `best` one
    epoch ahead (the epoch `redoing`, which a resume runs again and, validating as well, writes again):
    allowed at a resume's start, an error if it still disagrees after training (the redone epoch
    validated differently, and the older best's weights are gone), as for any other mismatch."""
    from cocobench.models import read_metadata

    held = read_metadata(RunDir(run_dir).best).get("epoch")  # a damaged cocobench.json is one line
    if held == best_epoch or (redoing is not None and held == redoing):
        return
    raise CocobenchError(f"checkpoints/best in '{run_dir}' holds epoch {held} but the trainer state's best is epoch {best_epoch} "
                         "(an interrupted checkpoint write, or files copied between runs): evaluate a checkpoint with `cocobench eval`, or start the run again")


def read_start(run_dir: Path) -> dict[str, Any]:
    """What the run recorded when it started (empty for a run from before start.json)."""
    return read_run_record(RunDir(run_dir).start)


def read_run_record(path: Path, *keys: str) -> dict[str, Any]:
    """A JSON object the run wrote at its start (start.json, init_from.json), with `keys`; {} when there is
    none; a damaged one is a one-line error (its run cannot be resumed as what it was)."""
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict) or any(key not in record for key in keys):
        raise CocobenchError(f"'{path}' is damaged (not the JSON object the run wrote at its start); restore it, or start the run over with --overwrite")
    return record


def check_resume_settings(cfg: RunConfig, run_dir: Path, checkpoint: Path | None) -> None:
    """A resumed run must be the run it continues: refuse any change to a setting that defines the result
    (`options()`, seed, method, task, precision, the --init-from checkpoint), judged against what the
    checkpoint itself recorded (config.yaml is a copy anyone may edit; before the first checkpoint, it is
    all there is). Execution and output settings (eval batch size, --fsdp, logging, the data's path) may change."""
    from cocobench.config import coerce, load_yaml, normalize_keys
    from cocobench.models import read_metadata

    layout = RunDir(run_dir)
    saved_file = layout.config
    for record in (saved_file, layout.start) if checkpoint is not None else ():
        if not record.is_file():  # without them a resume would take defaults and other data for the run's own
            raise CocobenchError(f"cannot resume '{run_dir}': its {record.name} is missing; restore it, or start the run over with --overwrite")
    recorded = read_metadata(checkpoint).get("config") if checkpoint is not None else None
    if isinstance(recorded, dict):
        saved = coerce(normalize_keys(recorded, f"{checkpoint}/cocobench.json"))
    else:  # before the first checkpoint, or a checkpoint from before cocobench.json recorded its settings
        saved = coerce(normalize_keys(load_yaml(saved_file), str(saved_file)))  # older files: missing keys read as defaults
    changed = [f"{name} ({getattr(saved, name)!r} -> {getattr(cfg, name)!r})" for name in (*RESULT_SETTINGS, *cfg.options())
               if getattr(saved, name) != getattr(cfg, name)]
    if cfg.init_from != saved.init_from:
        saved_init = read_run_record(layout.init_from, "fingerprint").get("fingerprint")
        if cfg.init_from is None or saved_init is None or checkpoint_fingerprint(Path(cfg.init_from)) != saved_init:
            changed.append(f"init_from ({saved.init_from!r} -> {cfg.init_from!r})")
    if changed:
        raise CocobenchError(f"cannot resume '{run_dir}' with changed settings that define its result: {', '.join(changed)}; "
                             "resume without them (config.yaml must say what the checkpoint records), or start a new run with another --out")


def check_resume_data(run_dir: Path, start: dict[str, Any], data_fingerprints: dict[str, str]) -> None:
    """The train, validation (it picks `best`) and test files must be those the run started with."""
    changed = [f"{key.removesuffix('_fingerprint')} data (its file differs from the run's start)" for key, fingerprint in data_fingerprints.items()
               if start.get(key) not in (None, fingerprint)]
    if changed:
        raise CocobenchError(f"cannot resume '{run_dir}' with changed settings that define its result: {', '.join(changed)}; "
                             "resume without them, or start a new run with another --out")


def describe_run(cfg: RunConfig, model, tokenizer, method, train_examples: list[Example], device) -> None:
    """Before training: the settings that differ from the defaults, and how long training should take."""
    from cocobench.train import estimate_train_seconds

    changed = cfg.changed_options()
    warmup = changed.pop("warmup", None)  # set by a suite, not an option of `run`
    listed = ", ".join(f"--{name.replace('_', '-')} {value}" for name, value in changed.items())
    log(f"settings differing from the defaults: {listed}" if changed else "settings: all at their defaults", False)
    if warmup:
        log(f"starts from the suite's warm-up '{warmup}' ({cfg.init_from})", False)
    log(optimizer_steps_line(cfg, len(train_examples), distributed.world()[1]), False)
    if cfg.resume:
        return
    seconds, micro_batches = estimate_train_seconds(cfg, model, tokenizer, method, train_examples, device=device)
    log(f"estimate: training takes about {format_duration(seconds)} here ({cfg.epochs} epochs x {micro_batches // cfg.epochs} micro-batches, "
        f"timed from a few micro-batches; validation and the test add to it)", False)


def optimizer_steps_line(cfg: RunConfig, examples: int, world_size: int = 1) -> str:
    """--batch-size is the micro-batch: say what one optimizer step sees, so that nobody counts micro-batches as steps."""
    micro_per_epoch = len(batch_indices(examples, cfg.batch_size, cfg.seed, 0, shuffle=False, world_size=world_size))
    steps = -(-micro_per_epoch // cfg.grad_accum)
    processes = f" x {world_size} processes" if world_size > 1 else ""
    return (f"optimizer steps: {steps} per epoch, {steps * cfg.epochs} in all, each of up to {cfg.batch_size * cfg.grad_accum * world_size} "
            f"examples (--batch-size {cfg.batch_size} per micro-batch x --grad-accum {cfg.grad_accum}{processes})")


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def init_checkpoint_fingerprint(cfg: RunConfig, run_dir: Path) -> str | None:
    """The fingerprint of the --init-from checkpoint: where a run starts is part of what it is, so
    results record it (in `options`) and runs from different starts are never paired or averaged.
    A resumed run reads the one saved at its start, in case the checkpoint has changed since."""
    if not cfg.init_from:
        return None
    saved = RunDir(run_dir).init_from
    if cfg.resume and saved.is_file():
        return read_run_record(saved, "fingerprint")["fingerprint"]
    if cfg.resume and not Path(cfg.init_from).exists():
        return None  # a run from before fingerprints whose start is gone: resume it, recording none
    return checkpoint_fingerprint(Path(cfg.init_from))


def evaluate_and_write(cfg, model, tokenizer, method, test: list[Example], *, run_dir: Path, task: str, test_file: Path, train_file: Path | None, classifier, device, train_state=None,
                       init_fingerprint: str | None = None, started_at: str | None = None) -> dict[str, Any]:
    evaluation = run_test(cfg, model, tokenizer, method, test, classifier=classifier, k=cfg.k, label=f"{run_dir.name} test")
    return write_evaluation(cfg, evaluation, run_dir=run_dir, task=task, test_file=test_file, train_file=train_file, device=device, train_state=train_state,
                            init_fingerprint=init_fingerprint, started_at=started_at)


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    atomic_write_text(RunDir(run_dir).config, config_yaml(cfg))
