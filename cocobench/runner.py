"""`cocobench run` end to end: data -> model -> method -> train -> evaluate on test -> results.json."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import torch

from cocobench import distributed
from cocobench.checkpoints import checkpoint_fingerprint
from cocobench.config import RunConfig, config_yaml
from cocobench.errors import CocobenchError
from cocobench.examples import Example, find_split, load_examples
from cocobench.io import atomic_write_json, atomic_write_text, ensure_writable_dir, file_fingerprint, recover_directory
from cocobench.lengths import check_sequence_lengths
from cocobench.progress import TrainingReporter, counter, log, quiet_libraries
from cocobench.results import build_results, write_results

CHECKPOINTS = "checkpoints"
INIT_FILE = "init_from.json"  # the fingerprint of the --init-from checkpoint, saved at the run's start
DEFAULT_DATA_ROOT = Path("data")


def run_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.out) if cfg.out else Path("runs") / cfg.run_name()


def prepare_data(cfg: RunConfig) -> tuple[str, Path]:
    """The task name and the data directory; generates the task's default data if no --data was given."""
    from cocobench.tasks import detect_task, get_task

    if cfg.data is not None:
        data_dir = Path(cfg.data)
        test = load_examples(find_split(data_dir, "test"))
        if cfg.task is not None:
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
    return version is None or json.loads(meta.read_text()).get("version") == version


def load_splits(cfg: RunConfig, data_dir: Path) -> dict[str, list[Example]]:
    splits = {}
    for split in ("train", "valid", "test"):
        examples = load_examples(find_split(data_dir, split))
        limit = cfg.limit_train if split == "train" else cfg.limit_eval
        splits[split] = examples[:limit] if limit else examples
    if not splits["train"] or not splits["test"]:
        raise CocobenchError(f"data directory '{data_dir}' has an empty train or test split")
    return splits


def vocabulary_texts(splits: dict[str, list[Example]]) -> list[str]:
    """Text the word-level tokenizer is built from: full training examples, and the questions of the
    evaluation splits (so every input word has a token; no evaluation answer or step is read)."""
    from cocobench.examples import sequence_text

    return [sequence_text(e) for e in splits["train"]] + [e["question"] for s in ("valid", "test") for e in splits[s]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def run_experiment(cfg: RunConfig) -> dict[str, Any]:
    from cocobench.checkpoints import load_run_checkpoint
    from cocobench.device import pick_device
    from cocobench.engine import StopClassifier
    from cocobench.loggers import Loggers
    from cocobench.methods import get_method
    from cocobench.models import build_model_and_tokenizer
    from cocobench.train import train

    quiet_libraries()
    distributed.init_from_env()
    seed_everything(cfg.seed)
    device = pick_device()
    run_dir = run_dir_of(cfg)
    last = run_dir / CHECKPOINTS / "last"
    if cfg.resume and distributed.is_main():  # a kill mid-checkpoint: finish or undo the directory swap
        for name in ("last", "best"):
            recover_directory(run_dir / CHECKPOINTS / name)
    distributed.barrier()
    if cfg.resume and not (last / "trainer_state.pt").is_file():
        raise CocobenchError(f"nothing to resume in '{run_dir}': it has no checkpoints/last; start the run without --resume")
    if not cfg.resume and (run_dir / CHECKPOINTS).exists():
        raise CocobenchError(f"'{run_dir}' already holds a run; pass --resume to continue it, or choose another --out")

    task_name, data_dir = prepare_data(cfg)
    splits = load_splits(cfg, data_dir)
    init_fingerprint = init_checkpoint_fingerprint(cfg, run_dir)
    if cfg.resume:
        model, tokenizer, _, classifier = load_run_checkpoint(last)
    elif cfg.init_from:
        model, tokenizer, _, classifier = load_run_checkpoint(Path(cfg.init_from))
    else:
        model, tokenizer = build_model_and_tokenizer(cfg.model, train_texts=vocabulary_texts(splits), seed=cfg.seed)
        classifier = None
    if cfg.latent_stop == "classifier" and classifier is None:
        torch.manual_seed(cfg.seed)
        classifier = StopClassifier(model.config.get_text_config().hidden_size if hasattr(model.config, "get_text_config") else model.config.hidden_size)
    model.to(device)
    if classifier is not None:
        classifier.to(device)
    method = get_method(cfg.method, cfg, tokenizer)
    check_sequence_lengths(cfg, model, method, train=splits["train"], evaluate=splits["valid"] + splits["test"], ks=(None, cfg.k))
    ensure_writable_dir(run_dir)  # only now, so that bad data, settings or checkpoints leave no empty run directory behind
    if distributed.is_main():
        write_config(run_dir, cfg)
        if init_fingerprint:
            atomic_write_json(run_dir / INIT_FILE, {"init_from": str(cfg.init_from), "fingerprint": init_fingerprint})

    log(f"[bold]{run_dir.name}[/]: {task_name}, {cfg.method}, {cfg.model}, {len(splits['train'])} train / {len(splits['valid'])} valid / {len(splits['test'])} test, {device}", cfg.quiet)
    quiet = cfg.quiet or not distributed.is_main()
    with TrainingReporter(run_dir.name, cfg.epochs, quiet, logger=Loggers(cfg, run_dir) or None) as reporter:
        state = train(cfg, model, tokenizer, method, splits["train"], splits["valid"], run_dir=run_dir, device=device,
                      stop_classifier=classifier, resume_from=last if cfg.resume else None, reporter=reporter)

    best = run_dir / CHECKPOINTS / "best"
    if not (best / "cocobench.json").is_file() and cfg.fsdp and distributed.world()[1] > 1:
        best = last  # no validation split: the final weights, whole (the FSDP model holds shards)
    if (best / "trainer_state.pt").is_file() or (best / "cocobench.json").is_file():
        model, tokenizer, _, classifier = load_run_checkpoint(best)
        model.to(device)
        if classifier is not None:
            classifier.to(device)
    return evaluate_and_write(cfg, model, tokenizer, method, splits["test"], run_dir=run_dir, task=task_name, test_file=find_split(data_dir, "test"),
                              train_file=find_split(data_dir, "train"), classifier=classifier, device=device, train_state=state,
                              init_fingerprint=init_fingerprint)


def init_checkpoint_fingerprint(cfg: RunConfig, run_dir: Path) -> str | None:
    """The fingerprint of the --init-from checkpoint: where a run starts is part of what it is, so
    results record it (in `options`) and runs from different starts are never paired or averaged.
    A resumed run reads the one saved at its start, in case the checkpoint has changed since."""
    if not cfg.init_from:
        return None
    saved = run_dir / INIT_FILE
    if cfg.resume and saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))["fingerprint"]
    if cfg.resume and not Path(cfg.init_from).exists():
        return None  # a run from before fingerprints whose start is gone: resume it, recording none
    return checkpoint_fingerprint(Path(cfg.init_from))


def evaluate_checkpoint(checkpoint: Path, data: Path, overrides: dict[str, Any], out: Path | None) -> dict[str, Any]:
    """`cocobench eval`: the checkpoint's own settings, overridden by the command line, on a data file."""
    from cocobench.checkpoints import load_run_checkpoint
    from cocobench.config import resolve_config
    from cocobench.device import pick_device
    from cocobench.methods import get_method
    from cocobench.tasks import detect_task

    quiet_libraries()
    checkpoint = Path(checkpoint)
    if not checkpoint.is_dir():
        what = "is a file, not a directory" if checkpoint.is_file() else "does not exist"
        raise CocobenchError(f"checkpoint '{checkpoint}' {what}; pass a checkpoint directory such as runs/NAME/checkpoints/best")
    test_file = find_split(data, "test") if Path(data).is_dir() else Path(data)
    examples = load_examples(test_file)
    if not examples:
        raise CocobenchError(f"{test_file}: no examples to evaluate (an empty array); pass a data file with at least one example")
    model, tokenizer, metadata, classifier = load_run_checkpoint(checkpoint)
    cfg = resolve_config(None, overrides, base=metadata.get("config") or {"method": metadata.get("method", "cot"), "task": "prosqa"})
    if cfg.latent_stop == "classifier" and classifier is None:
        raise CocobenchError(f"checkpoint '{checkpoint}' has no stop classifier; use --latent-stop fixed")
    run_name = f"eval-{checkpoint.parent.parent.name or checkpoint.name}-{test_file.stem}"
    cfg.out = str(out or Path("runs") / run_name)
    detected = detect_task(examples[0]) if examples else None
    device = pick_device()
    model.to(device)
    if classifier is not None:
        classifier.to(device)
    method = get_method(cfg.method, cfg, tokenizer)
    examples = examples[: cfg.limit_eval] if cfg.limit_eval else examples
    check_sequence_lengths(cfg, model, method, evaluate=examples, ks=(cfg.k,))
    return evaluate_and_write(cfg, model, tokenizer, method, examples, run_dir=ensure_writable_dir(cfg.out), task=detected.name if detected else "custom",
                              test_file=test_file, train_file=None, classifier=classifier, device=device)


def evaluate_and_write(cfg, model, tokenizer, method, test: list[Example], *, run_dir: Path, task: str, test_file: Path, train_file: Path | None, classifier, device, train_state=None,
                       init_fingerprint: str | None = None) -> dict[str, Any]:
    from cocobench.evaluate import evaluate

    quiet = cfg.quiet or not distributed.is_main()
    with counter(f"{run_dir.name} test", len(test), quiet) as advance:
        evaluation = evaluate(
            model, tokenizer, method, test,
            k=cfg.k, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch_size,
            stop_classifier=classifier if cfg.latent_stop == "classifier" else None,
            max_thoughts=cfg.max_thoughts or cfg.max_thoughts_allowed, progress=advance,
        )
    metrics = dict(evaluation.metrics)
    metrics["train_seconds"] = train_state.train_seconds if train_state else None
    metrics["epochs"] = train_state.history if train_state else []
    metrics["best_epoch"] = train_state.best_epoch if train_state else None
    metrics["classifier_accuracy"] = classifier_accuracy(train_state)
    data = {
        "test_file": str(test_file),
        "test_fingerprint": file_fingerprint(test_file),
        "train_fingerprint": file_fingerprint(train_file) if train_file else None,
        "limit_train": cfg.limit_train,
        "limit_eval": cfg.limit_eval,
    }
    results = build_results(cfg, task=task, data=data, metrics=metrics, samples=evaluation.samples, device=device, init_fingerprint=init_fingerprint)
    if distributed.is_main():
        write_results(run_dir, results)
        log(f"{run_dir.name}: accuracy {metrics['accuracy']:.3f} ({metrics['correct']}/{metrics['total']}), "
            f"{metrics['generated_tokens_mean']:.1f} tokens -> {run_dir / 'results.json'}", cfg.quiet)
    return results


def classifier_accuracy(train_state) -> float | None:
    """The stop probe's accuracy on the last epoch's training thought positions (None without a probe)."""
    if not train_state or not train_state.history:
        return None
    return train_state.history[-1].get("stop_classifier_train_accuracy")


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    atomic_write_text(run_dir / "config.yaml", config_yaml(cfg))
