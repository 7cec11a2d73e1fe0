"""A saved checkpoint, evaluated: loaded with its own settings (overridden by the command line), run on
a test file, and its results written. `cocobench eval` is `evaluate_checkpoint`; the analyses that read
a model (ksweep, probe, thoughts) load it here once and evaluate it as often as they need. The run
lifecycle (`cocobench.runner`) tests its trained model with `run_test` and `write_evaluation` too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocobench import distributed
from cocobench.config import RunConfig
from cocobench.errors import CocobenchError
from cocobench.examples import Example, find_split, load_examples
from cocobench.hfdata import local_data_dir
from cocobench.io import directory_lock, file_fingerprint, holds_files
from cocobench.lengths import check_sequence_lengths
from cocobench.progress import counter, log, quiet_libraries
from cocobench.results import build_results, utc_now, write_results
from cocobench.rundir import RUNS_ROOT, RunDir


@dataclass
class LoadedCheckpoint:
    """A checkpoint ready to evaluate: its model (on the device), its settings overridden by the command
    line, and its method. Loaded once; `evaluate_loaded` may then run as often as needed (a k-sweep)."""

    checkpoint: Path
    cfg: RunConfig
    model: Any
    tokenizer: Any
    classifier: Any
    method: Any
    device: Any


def require_checkpoint_dir(checkpoint: Path) -> Path:
    checkpoint = Path(checkpoint)
    if not checkpoint.is_dir():
        what = "is a file, not a directory" if checkpoint.is_file() else "does not exist"
        raise CocobenchError(f"checkpoint '{checkpoint}' {what}; pass a checkpoint directory such as runs/NAME/checkpoints/best")
    return checkpoint


def read_test_examples(data: Path) -> tuple[Path, list[Example]]:
    """(the test file, its examples): `data` is a split file, or a data directory whose test split is read."""
    data = local_data_dir(data)
    test_file = find_split(data, "test") if Path(data).is_dir() else Path(data)
    examples = load_examples(test_file)
    if not examples:
        raise CocobenchError(f"{test_file}: no examples to evaluate (an empty array); pass a data file with at least one example")
    return test_file, examples


def load_for_evaluation(checkpoint: Path, overrides: dict[str, Any]) -> LoadedCheckpoint:
    """Load a checkpoint and configure it: its own settings, overridden by `overrides` (None = keep)."""
    from cocobench.checkpoints import load_run_checkpoint
    from cocobench.config import resolve_config
    from cocobench.device import pick_device
    from cocobench.methods import get_method

    checkpoint = require_checkpoint_dir(checkpoint)
    model, tokenizer, metadata, classifier = load_run_checkpoint(checkpoint)
    if "method" not in metadata:  # a plain save_pretrained directory: say what it is taken for
        log(f"note: '{checkpoint}' has no cocobench.json (not written by `cocobench run`): evaluated as a CoT model", False)
    cfg = resolve_config(None, overrides, base=metadata.get("config") or {"method": metadata.get("method", "cot"), "task": "prosqa"})
    if cfg.latent_stop == "classifier" and classifier is None:
        raise CocobenchError(f"checkpoint '{checkpoint}' has no stop classifier; use --latent-stop fixed")
    device = pick_device()
    model.to(device)
    if classifier is not None:
        classifier.to(device)
    method = get_method(cfg.method, cfg, tokenizer)
    return LoadedCheckpoint(checkpoint, cfg, model, tokenizer, classifier, method, device)


def limited(examples: list[Example], cfg: RunConfig) -> list[Example]:
    return examples[: cfg.limit_eval] if cfg.limit_eval else examples


def check_evaluation_fits(loaded: LoadedCheckpoint, examples: list[Example], ks: tuple[int | None, ...]) -> None:
    """Before any work: the data is in the form the checkpoint reads, and every k's prompts plus
    --max-new-tokens fit the model's context."""
    import dataclasses

    check_same_form(loaded, examples)
    largest = max((k for k in ks if k is not None), default=loaded.cfg.k)  # the one that can fail; a note if past training
    check_sequence_lengths(dataclasses.replace(loaded.cfg, k=largest), loaded.model, loaded.method, evaluate=examples)


def check_same_form(loaded: LoadedCheckpoint, examples: list[Example]) -> None:
    """Symbolic ProsQA is read through its fixed vocabulary of node ids, everything else through a word
    tokenizer: a checkpoint of one cannot read the other (the tokenizer fails, or every id is unknown)."""
    from cocobench.tasks.prosqa_symbolic import is_symbolic
    from cocobench.tokenizer import is_symbolic_tokenizer

    model_symbolic, data_symbolic = is_symbolic_tokenizer(loaded.tokenizer), bool(examples) and is_symbolic(examples[0])
    if model_symbolic and not data_symbolic:
        raise CocobenchError(f"checkpoint '{loaded.checkpoint}' reads symbolic ProsQA (node ids) and this data is text; pass symbolic ProsQA "
                             "(`cocobench gen prosqa --format symbolic` or `cocobench data convert`)")
    if data_symbolic and not model_symbolic:
        raise CocobenchError(f"this data is symbolic ProsQA (node ids) and checkpoint '{loaded.checkpoint}' reads text; pass data of the "
                             "checkpoint's own task, or a checkpoint trained on symbolic ProsQA")


def task_of(examples: list[Example]) -> str:
    from cocobench.tasks import detect_task

    detected = detect_task(examples[0]) if examples else None
    return detected.name if detected else "custom"


def default_eval_name(checkpoint: Path, test_file: Path, k: int | None) -> str:
    """eval-<run>-<data>[-k<k>]: an explicit number of thoughts is part of the name, so that evaluations
    of one checkpoint at several k do not overwrite each other."""
    run = checkpoint.parent.parent.name or checkpoint.name
    return f"eval-{run}-{test_file.stem}" + (f"-k{k}" if k is not None else "")


def check_not_another_run(out: Path, checkpoint: Path) -> None:
    """Results beside checkpoints describe those checkpoints: another model's evaluation is never
    written into a run directory (its own run's, re-evaluated, may be)."""
    checkpoints = RunDir(out).checkpoints
    if checkpoints.is_dir() and checkpoint.resolve().parent != checkpoints.resolve():
        raise CocobenchError(f"--out '{out}' is the run directory of other checkpoints than '{checkpoint}': its results.json describes them; "
                             "choose another --out")


def evaluate_checkpoint(checkpoint: Path, data: Path, overrides: dict[str, Any], out: Path | None, *, overwrite: bool = False) -> dict[str, Any]:
    """`cocobench eval`: the checkpoint's own settings, overridden by the command line, on a data file.

    An --out that already holds files is refused unless `overwrite`; then only the files eval writes
    are replaced (an --out that is a run directory keeps its checkpoints)."""
    quiet_libraries()
    started_at = utc_now()
    checkpoint = require_checkpoint_dir(checkpoint)
    test_file, examples = read_test_examples(data)
    loaded = load_for_evaluation(checkpoint, overrides)
    cfg = loaded.cfg
    cfg.out = str(out or RUNS_ROOT / default_eval_name(checkpoint, test_file, cfg.k))
    if not overwrite and holds_files(Path(cfg.out)):
        raise CocobenchError(f"--out '{cfg.out}' already holds files; pass --overwrite to replace its results, or choose another --out")
    check_not_another_run(Path(cfg.out), checkpoint)
    task = task_of(examples)
    examples = limited(examples, cfg)
    check_evaluation_fits(loaded, examples, (cfg.k,))
    with directory_lock(cfg.out) as out_dir:
        evaluation = evaluate_loaded(loaded, examples, k=cfg.k, label=f"{out_dir.name} test")
        return write_evaluation(cfg, evaluation, run_dir=out_dir, task=task, test_file=test_file, train_file=None, device=loaded.device, started_at=started_at)


def evaluate_loaded(loaded: LoadedCheckpoint, examples: list[Example], *, k: int | None, label: str):
    """Greedy evaluation of a loaded checkpoint with k thoughts (None: its default), under a progress bar."""
    return run_test(loaded.cfg, loaded.model, loaded.tokenizer, loaded.method, examples, classifier=loaded.classifier, k=k, label=label)


def run_test(cfg, model, tokenizer, method, test: list[Example], *, classifier, k: int | None, label: str):
    from cocobench.device import autocast
    from cocobench.evaluate import evaluate

    quiet = cfg.quiet or not distributed.is_main()
    # Under the run's precision, as validation is: results record `options.precision`, so the test must
    # run in it (a no-op on CPU, where auto is fp32; on CUDA auto/bf16 is bf16 autocast).
    device = model.get_input_embeddings().weight.device
    with counter(label, len(test), quiet) as advance, autocast(device, cfg.precision):
        return evaluate(
            model, tokenizer, method, test,
            k=k, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch_size,
            stop_classifier=classifier if cfg.latent_stop == "classifier" else None,
            max_thoughts=cfg.max_thoughts or cfg.max_thoughts_allowed, progress=advance,
        )


def write_evaluation(cfg, evaluation, *, run_dir: Path, task: str, test_file: Path, train_file: Path | None, device, train_state=None,
                     init_fingerprint: str | None = None, started_at: str | None = None) -> dict[str, Any]:
    """The results of one evaluation (with the training history, if any), written to run_dir/results.json."""
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
    dataset = _dataset_record(test_file)
    if dataset:  # only for a datasets --data, so results of other data stay as they were
        data["dataset"] = dataset
    results = build_results(cfg, task=task, data=data, metrics=metrics, samples=evaluation.samples, device=device, init_fingerprint=init_fingerprint,
                            started_at=started_at)
    if distributed.is_main():
        written = write_results(run_dir, results)
        log(f"{run_dir.name}: accuracy {metrics['accuracy']:.3f} ({metrics['correct']}/{metrics['total']}), "
            f"{metrics['generated_tokens_mean']:.1f} tokens -> {written}", cfg.quiet)
    return results


def _dataset_record(test_file: Path) -> dict[str, Any] | None:
    """The datasets source a data directory was made from (id, revision, fingerprints, columns), if any."""
    meta = Path(test_file).parent / "meta.json"
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return recorded.get("dataset") if isinstance(recorded, dict) else None


def classifier_accuracy(train_state) -> float | None:
    """The stop probe's accuracy on the last epoch's training thought positions (None without a probe)."""
    if not train_state or not train_state.history:
        return None
    return train_state.history[-1].get("stop_classifier_train_accuracy")
