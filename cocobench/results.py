"""The results file (schema in README "Results files"): everything needed to reproduce and compare a run."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cocobench import __version__
from cocobench.io import atomic_write_json

SCHEMA_VERSION = 2  # 2 added git_commit, git_dirty, started_at, torch_threads, metrics.accuracy_stderr
READABLE_VERSIONS = (1, 2)  # the readers (report, compare) take these; version 1 lacks only the fields above
RESULTS_FILE = "results.json"


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
    """Fill in options that results written before they existed ran with implicitly, so that old and new
    runs of the same experiment still pair: before `--precision`, CPU ran fp32 and CUDA bf16 autocast."""
    options = results.get("options")
    if isinstance(options, dict) and "precision" not in options:
        options["precision"] = "bf16" if str(results.get("device", "cpu")).startswith("cuda") else "fp32"
    return results


def write_results(run_dir: str | Path, results: dict[str, Any]) -> Path:
    path = Path(run_dir) / RESULTS_FILE
    atomic_write_json(path, results)
    return path
