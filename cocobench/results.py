"""The results file (schema in docs/results-format.md): everything needed to reproduce and compare a run.

This module owns the format: its constants, how a run's file is built and written, how files are
found under a directory, and how one is read and validated (one list of required fields). Every
reader (`cocobench.analysis`: table, compare, paths, curve, ...) goes through `load_results` or
`read_results`, so a file that one command accepts, every command accepts.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cocobench import __version__
from cocobench.errors import CocobenchError
from cocobench.io import atomic_write_json
from cocobench.rundir import RESULTS_FILE

SCHEMA_VERSION = 2  # 2 added git_commit, git_dirty, started_at, torch_threads, metrics.accuracy_stderr
READABLE_VERSIONS = (1, 2)  # what `read_results` takes; version 1 lacks only the fields above
REGENERATE = "re-run the `cocobench run`/`cocobench eval` that wrote it"


def environment(device) -> dict[str, Any]:
    import torch
    import transformers

    name = str(device)
    if getattr(device, "type", None) == "cuda":
        name = f"cuda:{torch.cuda.get_device_name(device)}"
    return {
        "cocobench_version": __version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
        "device": name,
        "torch_threads": torch.get_num_threads(),
        **git_state(),
    }


def git_state() -> dict[str, Any]:
    """The commit of the cocobench source that ran, and whether its tracked files had changes; both None
    when cocobench is not a git checkout (an installed package) or git is missing."""
    source = Path(__file__).resolve().parent.parent
    unknown = {"git_commit": None, "git_dirty": None}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != source:  # e.g. site-packages inside some other repository
        return unknown
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    if commit is None:
        return unknown
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second (e.g. 2026-11-26T14:19:32Z)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def accuracy_stderr(correct: int, total: int) -> float | None:
    """The binomial standard error of an accuracy, sqrt(p(1-p)/n); None without examples."""
    if not total:
        return None
    p = correct / total
    return (p * (1 - p) / total) ** 0.5


def build_results(cfg, *, task: str, data: dict[str, Any], metrics: dict[str, Any], samples: list[dict[str, Any]], device, init_fingerprint: str | None = None,
                  started_at: str | None = None) -> dict[str, Any]:
    from cocobench.device import resolve_precision

    options = cfg.options()
    options["precision"] = resolve_precision(cfg.precision, device)  # what ran, not what was asked ("auto")
    if init_fingerprint:  # only when set, so that the options of runs from scratch stay as they were
        options["init_from"] = init_fingerprint
    return {
        "schema_version": SCHEMA_VERSION,
        **environment(device),
        "started_at": started_at,  # None: a run resumed from before start times were recorded
        "run_name": Path(cfg.out).name if cfg.out else cfg.run_name(),
        "task": task,
        "method": cfg.method,
        "seed": cfg.seed,
        "options": options,
        "data": data,
        "config": cfg.to_dict(),
        "metrics": {**metrics, "accuracy_stderr": accuracy_stderr(metrics.get("correct", 0), metrics.get("total", 0))},
        "samples": samples,
    }


def upgrade(results: dict[str, Any]) -> dict[str, Any]:
    """Fill in options that results written before they existed ran with implicitly, and drop those the
    method never read, so that old and new runs of the same experiment still pair: before `--precision`,
    CPU ran fp32 and CUDA bf16 autocast."""
    from cocobench.config import ignored_by

    options = results.get("options")
    if isinstance(options, dict) and "precision" not in options:
        options["precision"] = "bf16" if str(results.get("device", "cpu")).startswith("cuda") else "fp32"
    if isinstance(options, dict):  # settings the method never read, recorded before they were left out (CODI's c)
        for name in [name for name in options if ignored_by(results["method"], name)]:
            del options[name]
    return results


def write_results(run_dir: str | Path, results: dict[str, Any]) -> Path:
    path = Path(run_dir) / RESULTS_FILE
    atomic_write_json(path, results)
    return path


# ----------------------------------------------------------------------------------------------
# Warm starts: what a suite's runs record of the warm-up they start from (`options.warmup`); the
# suite plans and checks its runs with it, the tables match runs to their warm-up with it

WARMUP_STAGE = "warmup"  # RunConfig.suite_stage of a suite's shared warm-up run (tables leave it out of the rows)


def warmup_identity(cfg, data_fingerprints: dict[str, Any] | None = None) -> str:
    """What a run records as its warm start: readable (method, epochs) plus a hash of every setting that
    shapes the warm-up except the seed (runs of different seeds start from that seed's warm-up), and of
    its data's contents, not its path (`data_fingerprints`: a warm-up's recorded ones; else read)."""
    from cocobench.io import json_fingerprint

    data = data_fingerprints if data_fingerprints is not None else data_identity(cfg.data)
    shaping = {"task": cfg.task, "data": data, "method": cfg.method, **cfg.options()}
    digest = json_fingerprint(shaping).split(":")[1][:8]
    return f"{cfg.method} {cfg.epochs} epochs #{digest}"


def data_identity(data: str | None) -> dict[str, Any] | str | None:
    """A data directory's train and test fingerprints, as its runs record them (the same data under two
    paths is one warm start); its path while the suite has not generated it yet; None: the task's default."""
    from cocobench.examples import find_split
    from cocobench.io import file_fingerprint

    if data is None:
        return None
    try:
        return {f"{split}_fingerprint": file_fingerprint(find_split(data, split)) for split in ("train", "test")}
    except (CocobenchError, OSError):
        return data


# ----------------------------------------------------------------------------------------------
# Finding and reading: each path is a results.json, a run directory or a suite directory


def find_results(path: str | Path, label: str | None = None) -> list[Path]:
    """The results files under `path`: itself if a file, its results.json if a run directory, else every
    one below it (sorted). `label` ("baseline") names the argument in messages."""
    path = Path(path)
    named = f"{label} '{path}'" if label else f"'{path}'"
    if not path.exists():
        raise CocobenchError(f"{named} does not exist; pass a results.json, a run directory or a suite directory")
    if path.is_file():
        return [path]
    if (path / RESULTS_FILE).is_file():
        return [path / RESULTS_FILE]  # a run directory: its checkpoints hold no other results
    found = []
    for folder, subfolders, files in os.walk(path):
        # Hidden folders are atomic-write temporaries (.name.tmp) or tooling (.git, .venv), never runs.
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        if RESULTS_FILE in files:
            found.append(Path(folder) / RESULTS_FILE)
    if not found:
        raise CocobenchError(f"no {RESULTS_FILE} found under {named}; pass a results.json, a run directory or a suite directory")
    return sorted(found)


def load_results(paths: list[str | Path], label: str | None = None) -> list[dict[str, Any]]:
    """Every run under `paths`, validated; each dict gets `_source` (its file) for messages.

    A file reached twice (a suite directory and a run inside it) is read once.
    """
    results, seen = [], set()
    for path in paths:
        for file in find_results(path, label):
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            results.append({**read_results(file), "_source": str(file)})
    return results


_NUMBER = (int, float)
# Every reader's needs in one list: a field one analysis reads is required of every file (parents are
# listed before their children). Other fields (config, environment, timings) are informational.
REQUIRED_FIELDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("task", (str,)),
    ("method", (str,)),
    ("seed", (int,)),
    ("options", (dict,)),
    ("data", (dict,)),
    ("data.test_fingerprint", (str,)),
    ("metrics", (dict,)),
    ("metrics.accuracy", _NUMBER),
    ("metrics.generated_tokens_mean", _NUMBER),
    ("metrics.forward_passes_mean", _NUMBER),
    ("metrics.examples_per_second", (*_NUMBER, type(None))),
    ("metrics.correct", (int,)),
    ("metrics.total", (int,)),
    ("samples", (list,)),
)
# Pairing needs idx, gold and correct (gold of any type); the other sample fields are per-analysis.
REQUIRED_SAMPLE_FIELDS: tuple[tuple[str, tuple[type, ...] | None], ...] = (("idx", (int,)), ("gold", None), ("correct", (bool,)),
                                                                           ("generated_tokens", _NUMBER), ("forward_passes", _NUMBER))
MEANS = ("generated_tokens", "forward_passes")  # metrics.<name>_mean: the samples' mean, what `compare` tests for a change
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list", bool: "true/false", type(None): "null"}


def read_results(path: str | Path) -> dict[str, Any]:
    """One results.json, checked (schema_version, required fields and types, samples agreeing with the
    metrics) and upgraded to the current schema; bad files raise a one-line CocobenchError naming the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CocobenchError(f"cannot read {path}: {exc.strerror}; fix its permissions or pass another results.json") from None
    except UnicodeDecodeError:
        raise CocobenchError(f"cannot read {path}: not UTF-8 text, so not a results.json; {REGENERATE}") from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CocobenchError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg}), perhaps truncated; {REGENERATE}") from None
    except RecursionError:
        raise CocobenchError(f"{path}: JSON nested too deeply to be a results.json; {REGENERATE}") from None
    if not isinstance(results, dict):
        raise CocobenchError(f"{path}: expected a JSON object (a cocobench results file), got {type(results).__name__}; {REGENERATE}")
    version = results.get("schema_version")
    if version is None:
        raise CocobenchError(f"{path}: missing required field 'schema_version'; is this a cocobench results.json? {REGENERATE}")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise CocobenchError(f"{path}: unknown schema_version {version!r} (this cocobench reads {', '.join(map(str, READABLE_VERSIONS))}); upgrade cocobench or {REGENERATE}")
    validate(path, results)
    return upgrade(results)


def validate(path: str | Path, results: dict[str, Any]) -> None:
    """Raise a one-line CocobenchError at the first required field that is missing or of the wrong type."""
    for dotted, kinds in REQUIRED_FIELDS:
        *parents, name = dotted.split(".")
        obj = results
        for parent in parents:
            obj = obj[parent]  # the parent was checked first (listed before its children)
        _check(path, obj, "".join(f"{p}." for p in parents), name, kinds)
    metrics, samples = results["metrics"], results["samples"]
    if not 0.0 <= metrics["accuracy"] <= 1.0:
        raise CocobenchError(f"{path}: metrics.accuracy must be a fraction in [0, 1], got {metrics['accuracy']}; {REGENERATE}")
    if not results["method"].strip():
        raise CocobenchError(f"{path}: field 'method' is empty; {REGENERATE}")
    if not samples:  # a run with nothing evaluated has no accuracy to report or pair
        raise CocobenchError(f"{path}: no samples (metrics.total must be > 0); {REGENERATE}")
    seen: set[int] = set()
    for position, sample in enumerate(samples):
        where = f"samples[{position}]."
        if not isinstance(sample, dict):
            raise CocobenchError(f"{path}: {where[:-1]} must be an object; {REGENERATE}")
        for name, kinds in REQUIRED_SAMPLE_FIELDS:
            _check(path, sample, where, name, kinds)
        if sample["idx"] in seen:
            raise CocobenchError(f"{path}: idx {sample['idx']} appears twice in samples; {REGENERATE}")
        seen.add(sample["idx"])
        for name in MEANS:
            if sample[name] < 0:
                raise CocobenchError(f"{path}: {where}{name} must be >= 0, got {sample[name]}; {REGENERATE}")
    # A file can be valid JSON yet incomplete (a crashed writer, a hand edit): the metrics must agree.
    correct = sum(s["correct"] for s in samples)
    if metrics["total"] != len(samples) or metrics["correct"] != correct:
        raise CocobenchError(
            f"{path}: metrics say {metrics['correct']}/{metrics['total']} correct but samples hold {correct}/{len(samples)}; "
            f"the file is incomplete or edited, {REGENERATE}"
        )
    # Tables print and compare tests these numbers: they must be the samples' own, not an edit's.
    claimed = {"accuracy": metrics["accuracy"], **{f"{name}_mean": metrics[f"{name}_mean"] for name in MEANS}}
    held = {"accuracy": correct / len(samples), **{f"{name}_mean": sum(s[name] for s in samples) / len(samples) for name in MEANS}}
    for name, value in claimed.items():
        if not math.isclose(value, held[name], rel_tol=1e-9, abs_tol=1e-12):
            raise CocobenchError(f"{path}: metrics.{name} is {value} but the samples give {held[name]}; the file is edited, {REGENERATE}")


def _check(path: str | Path, obj: dict, where: str, name: str, kinds: tuple[type, ...] | None) -> None:
    """`obj[name]` exists and is one of `kinds` (any type when None); bool never passes for int."""
    if name not in obj:
        raise CocobenchError(f"{path}: missing required field '{where}{name}'; {REGENERATE}")
    value = obj[name]
    if kinds is None:
        return
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        wanted = " or ".join(dict.fromkeys(_TYPE_NAMES[k] for k in kinds))
        raise CocobenchError(f"{path}: field '{where}{name}' must be {wanted}, got {json.dumps(value)[:40]}; {REGENERATE}")
    if isinstance(value, float) and not math.isfinite(value):  # json.loads accepts NaN and Infinity
        raise CocobenchError(f"{path}: field '{where}{name}' must be a finite number, got {value}; {REGENERATE}")
