"""Suites: a YAML list of (task, method, seeds, settings) run one after another, resumably.

    name: smoke                # default output directory: runs/<name>
    defaults: {model: gpt2-tiny, epochs: 2}
    runs:
      - {task: prosqa, method: cot, seeds: [0, 1]}
      - {task: prosqa, method: coconut, seeds: [0], epochs_per_stage: 1, name: fast-curriculum}

Each run goes to OUT/<task>-<method>[-<name>]-seed<seed>. A run whose results.json exists is skipped,
and one with checkpoints but no results is resumed, so an interrupted suite picks up where it stopped.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocobench.config import RunConfig, load_yaml, normalize_keys, resolve_config
from cocobench.errors import CocobenchError
from cocobench.io import directory_lock
from cocobench.results import RESULTS_FILE

SUITE_KEYS = {"name", "defaults", "runs"}
RUN_KEYS = {"seeds", "name"}


@dataclass
class PlannedRun:
    name: str
    config: RunConfig


def plan_suite(path: str | Path, out: str | Path | None = None) -> tuple[str, Path, list[PlannedRun]]:
    spec = load_yaml(path)
    unknown = set(spec) - SUITE_KEYS
    if unknown:
        raise CocobenchError(f"{path}: unknown key '{sorted(unknown)[0]}' in the suite; allowed: {', '.join(sorted(SUITE_KEYS))}")
    name = str(spec.get("name") or Path(path).stem)
    out_dir = Path(out) if out else Path("runs") / name
    defaults = spec.get("defaults") or {}
    entries = spec.get("runs")
    if not isinstance(entries, list) or not entries:
        raise CocobenchError(f"{path}: 'runs' must be a non-empty list of {{task, method, seeds, ...}} entries")
    if not isinstance(defaults, dict):
        raise CocobenchError(f"{path}: 'defaults' must be a mapping of settings")
    planned: list[PlannedRun] = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CocobenchError(f"{path}: run {position} must be a mapping with task, method and seeds")
        seeds = entry.get("seeds", [entry.get("seed", defaults.get("seed", 0))])
        if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds):
            raise CocobenchError(f"{path}: run {position}: 'seeds' must be a list of integers")
        settings = {**normalize_keys(defaults, f"{path} defaults"), **normalize_keys({k: v for k, v in entry.items() if k not in RUN_KEYS | {"seed"}}, f"{path} run {position}")}
        label = f"-{entry['name']}" if entry.get("name") else ""
        for seed in seeds:
            cfg = resolve_config(None, {**settings, "seed": seed})
            run_name = f"{cfg.task or Path(cfg.data or 'data').name}-{cfg.method}{label}-seed{seed}"
            cfg.out = str(out_dir / run_name)
            planned.append(PlannedRun(run_name, cfg))
    names = [p.name for p in planned]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise CocobenchError(f"{path}: two runs are both named '{duplicate}'; give one of them a distinct 'name'")
    return name, out_dir, planned


def run_suite(path: str | Path, out: str | Path | None = None, *, overwrite: bool = False, quiet: bool = False, only: str | None = None) -> tuple[Path, list[dict[str, Any]]]:
    _, out_dir, planned = plan_suite(path, out)
    if only:
        planned = [p for p in planned if only in p.name]
        if not planned:
            raise CocobenchError(f"--only '{only}' matches no run of the suite")
    with directory_lock(out_dir):  # one suite process per directory; each run also locks its own
        for position, run in enumerate(planned, start=1):
            _run_one(run, position, len(planned), overwrite=overwrite, quiet=quiet)
    results = [p for p in (Path(r.config.out) / RESULTS_FILE for r in planned) if p.is_file()]
    return out_dir, results


def _run_one(run: PlannedRun, position: int, total: int, *, overwrite: bool, quiet: bool) -> None:
    from cocobench.progress import log
    from cocobench.runner import run_experiment

    run_dir = Path(run.config.out)
    run.config.quiet = quiet or run.config.quiet
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    if (run_dir / RESULTS_FILE).is_file():
        log(f"[{position}/{total}] {run.name}: results exist, skipped", quiet)
        return
    run.config.resume = (run_dir / "checkpoints" / "last" / "trainer_state.pt").is_file()
    log(f"[{position}/{total}] {run.name}{' (resuming)' if run.config.resume else ''}", quiet)
    if run_dir.exists() and not run.config.resume:
        shutil.rmtree(run_dir)  # a run that died before its first checkpoint: start it afresh
    run_experiment(run.config)
