"""The results file (schema in README "Results files"): everything needed to reproduce and compare a run."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from cocobench import __version__
from cocobench.io import atomic_write_json

SCHEMA_VERSION = 1
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
    }


def build_results(cfg, *, task: str, data: dict[str, Any], metrics: dict[str, Any], samples: list[dict[str, Any]], device, init_fingerprint: str | None = None) -> dict[str, Any]:
    from cocobench.device import resolve_precision

    options = cfg.options()
    options["precision"] = resolve_precision(cfg.precision, device)  # what ran, not what was asked ("auto")
    if init_fingerprint:  # only when set, so that the options of runs from scratch stay as they were
        options["init_from"] = init_fingerprint
    return {
        "schema_version": SCHEMA_VERSION,
        **environment(device),
        "run_name": Path(cfg.out).name if cfg.out else cfg.run_name(),
        "task": task,
        "method": cfg.method,
        "seed": cfg.seed,
        "options": options,
        "data": data,
        "config": cfg.to_dict(),
        "metrics": metrics,
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
