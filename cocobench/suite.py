"""Suites: a YAML list of (task, method, seeds, settings) run one after another, resumably.

    name: smoke                # default output directory: runs/<name>
    defaults: {model: gpt2-tiny, epochs: 2}
    runs:
      - {task: prosqa, method: cot, seeds: [0, 1]}
      - {task: prosqa, method: coconut, seeds: [0], epochs_per_stage: 1, name: fast-curriculum}

Each run goes to OUT/<task>-<method>[-<name>]-seed<seed>. A run whose results.json exists is skipped
(when it records the planned settings; else the suite stops and names them), and one with checkpoints
but no results is resumed, so an interrupted suite picks up where it stopped.

A suite may generate its data first (once: kept while its meta.json agrees with the settings), with
the options of `cocobench gen TASK` (the task's generator settings, cocobench/tasks/generator.py):

    generate: {task: prosqa, out: data/prosqa-cpu, min_nodes: 14, max_nodes: 14, max_hops: 4}
    defaults: {data: data/prosqa-cpu, ...}

A suite may declare a shared warm-up stage, the CPU stand-in for the paper's pretrained GPT-2:

    warmup: {method: cot, epochs: 12}   # any run settings; the suite's defaults apply beneath

It is trained once per seed (OUT/<task>-<method>-warmup-seed<seed>), before that seed's runs, and
every run of that seed starts from its best checkpoint (`init_from`). Its identity, method, epochs
and a hash of all its settings, is recorded in each run's options as `warmup`, so runs from different
warm starts are never averaged or paired; tables name it in their caption and leave the warm-up runs
themselves out of the rows. A run entry with `warmup: false` starts from scratch instead. With a
warm-up the runs go seed by seed, so an interrupted suite already holds complete seeds.

Several processes may work through one suite directory at once (say `--only seed1` on one machine and
`--only seed2` on another, or two shards on one): each run is locked on its own, a run another process
is training is left to it, and a warm-up another process is training is waited for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocobench.config import RunConfig, load_yaml, normalize_keys, resolve_config
from cocobench.errors import CocobenchError
from cocobench.io import DirectoryInUse, directory_lock, remove_outputs
from cocobench.results import WARMUP_STAGE, warmup_identity
from cocobench.rundir import RUNS_ROOT, RunDir

SUITE_KEYS = {"name", "defaults", "runs", "warmup", "generate"}
RUN_KEYS = {"seeds", "name", "warmup"}
RECORDED_ONLY = ("precision", "init_from")  # options results add to the settings' own (what ran, the start's fingerprint)


@dataclass
class PlannedRun:
    name: str
    config: RunConfig
    warmup: PlannedRun | None = None  # the warm-up whose best checkpoint this run starts from


def plan_suite(path: str | Path, out: str | Path | None = None) -> tuple[str, Path, list[PlannedRun]]:
    spec = load_yaml(path)
    unknown = set(spec) - SUITE_KEYS
    if unknown:
        raise CocobenchError(f"{path}: unknown key '{sorted(unknown)[0]}' in the suite; allowed: {', '.join(sorted(SUITE_KEYS))}")
    name = path_component(str(spec.get("name") or Path(path).stem), "the suite's 'name'", path)
    out_dir = Path(out) if out else RUNS_ROOT / name
    defaults = spec.get("defaults") or {}
    entries = spec.get("runs")
    if not isinstance(entries, list) or not entries:
        raise CocobenchError(f"{path}: 'runs' must be a non-empty list of {{task, method, seeds, ...}} entries")
    if not isinstance(defaults, dict):
        raise CocobenchError(f"{path}: 'defaults' must be a mapping of settings")
    warmup_settings = _warmup_settings(spec.get("warmup"), defaults, path)
    warmups: dict[int, PlannedRun] = {}
    planned: list[PlannedRun] = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise CocobenchError(f"{path}: run {position} must be a mapping with task, method and seeds")
        seeds = entry.get("seeds", [entry.get("seed", defaults.get("seed", 0))])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise CocobenchError(f"{path}: run {position}: 'seeds' must be a non-empty list of integers, got {seeds!r}")
        if not isinstance(entry.get("warmup", True), bool):  # YAML's 'no' in quotes is a string, and true
            raise CocobenchError(f"{path}: run {position}: 'warmup' must be true or false, got {entry['warmup']!r}")
        settings = {**normalize_keys(defaults, f"{path} defaults"), **normalize_keys({k: v for k, v in entry.items() if k not in RUN_KEYS | {"seed"}}, f"{path} run {position}")}
        label = f"-{path_component(str(entry['name']), f'run {position} name', path)}" if entry.get("name") else ""
        use_warmup = warmup_settings is not None and entry.get("warmup", True) is not False
        if use_warmup and settings.get("init_from"):
            raise CocobenchError(f"{path}: run {position} sets init_from but the suite has a warmup; add 'warmup: false' to that run to start it from init_from")
        if use_warmup and settings.get("model", "gpt2-tiny") != warmup_settings.get("model", "gpt2-tiny"):
            raise CocobenchError(f"{path}: run {position} sets model '{settings.get('model')}' but starts from the warmup's "
                                 f"'{warmup_settings.get('model', 'gpt2-tiny')}'; give both one model, or add 'warmup: false' to that run")
        for seed in seeds:
            warmup = None
            if use_warmup:
                if seed not in warmups:
                    warmups[seed] = _plan_run(warmup_settings, seed, "-warmup", out_dir)
                    warmups[seed].config.suite_stage = WARMUP_STAGE
                warmup = warmups[seed]
                settings = {**settings, "warmup": warmup_identity(warmup.config)}
            run = _plan_run(settings, seed, label, out_dir)
            run.warmup = warmup
            planned.append(run)
    if warmups:  # seed by seed, each seed's warm-up first: a stopped suite holds whole seeds
        seed_order = list(dict.fromkeys(run.config.seed for run in planned))
        planned = [run for seed in seed_order for run in ([warmups[seed]] if seed in warmups else []) + [r for r in planned if r.config.seed == seed]]
    names = [p.name for p in planned]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise CocobenchError(f"{path}: two runs are both named '{duplicate}'; give one of them a distinct 'name'")
    return name, out_dir, planned


def path_component(name: str, what: str, path: str | Path) -> str:
    """A name that becomes one directory under the suite's --out, never a path out of it."""
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name or Path(name).is_absolute():
        raise CocobenchError(f"{path}: {what} '{name}' must be one directory name (no '/', '..' or absolute path); rename it")
    return name


def _plan_run(settings: dict[str, Any], seed: int, label: str, out_dir: Path) -> PlannedRun:
    cfg = resolve_config(None, {**settings, "seed": seed})
    run_name = f"{cfg.task or Path(cfg.data or 'data').name}-{cfg.method}{label}-seed{seed}"
    cfg.out = str(out_dir / run_name)
    return PlannedRun(run_name, cfg)


def _warmup_settings(warmup: Any, defaults: dict[str, Any], path: str | Path) -> dict[str, Any] | None:
    """The warm-up's settings: the suite's defaults, then the `warmup` mapping (method: cot unless given)."""
    if warmup is None or warmup is False:
        return None
    if not isinstance(warmup, dict):
        raise CocobenchError(f"{path}: 'warmup' must be a mapping of run settings, e.g. {{method: cot, epochs: 12}}")
    settings = {**normalize_keys(defaults, f"{path} defaults"), "method": "cot", **normalize_keys(warmup, f"{path} warmup")}
    for key in ("init_from", "seed", "warmup"):
        if settings.get(key) is not None and key in warmup:
            raise CocobenchError(f"{path}: the warmup cannot set '{key}': it runs once per seed of the runs, from scratch")
    settings.pop("init_from", None)
    return settings


def recorded_differences(run: PlannedRun) -> list[str]:
    """How the finished run in the run's directory differs from the planned one ([]: it is this run)."""
    from cocobench.results import read_results

    recorded = read_results(RunDir(run.config.out).results)
    planned = {"method": run.config.method, "seed": run.config.seed, **({"task": run.config.task} if run.config.task else {})}
    differing = [f"{key}: {recorded.get(key)!r} there, {value!r} here" for key, value in planned.items() if recorded.get(key) != value]
    options = dict(recorded["options"])
    expected = {**run.config.options(), **({"precision": run.config.precision} if run.config.precision != "auto" else {})}
    if run.warmup is not None and options.get("warmup") == warmup_identity(run.warmup.config, run.warmup.config.data):
        options["warmup"] = expected.get("warmup")  # recorded before the identity hashed the data's contents: its path's
    differing += [f"{key}: {options.get(key, '<unset>')!r} there, {value!r} here" for key, value in expected.items() if options.get(key, "<unset>") != value]
    differing += [f"{key}: {value!r} there, <unset> here" for key, value in options.items() if key not in expected and key not in RECORDED_ONLY]
    return differing


def check_finished_runs(planned: list[PlannedRun]) -> None:
    """A run directory's results are reused only when they are the planned run's, whatever was there before."""
    for run in planned:
        if RunDir(run.config.out).results.is_file():
            differing = recorded_differences(run)
            if differing:
                raise CocobenchError(f"'{run.config.out}' holds results of other settings than the suite's run {run.name} ({'; '.join(differing[:3])}); "
                                     "pass --overwrite to run it again, or choose another --out")


def run_suite(path: str | Path, out: str | Path | None = None, *, overwrite: bool = False, quiet: bool = False, only: str | None = None) -> tuple[Path, list[dict[str, Any]]]:
    _, out_dir, planned = plan_suite(path, out)  # checked whole before any data is generated
    with directory_lock(out_dir, wait=True):  # another process of this suite may be generating the data
        for generate in data_to_generate(path):
            _generate(generate, path, quiet=quiet)
    _, out_dir, planned = plan_suite(path, out)  # again: a warm-up's identity names its data's contents, generated now
    if only:
        selected = [p for p in planned if only in p.name]
        if not selected:
            raise CocobenchError(f"--only '{only}' matches no run of the suite")
        needed = {id(p.warmup) for p in selected if p.warmup is not None}  # a selected run needs its warm-up
        planned = [p for p in planned if p in selected or id(p) in needed]
    if not overwrite:
        check_finished_runs(planned)
    for position, run in enumerate(planned, start=1):
        _run_one(run, position, len(planned), overwrite=overwrite, quiet=quiet)
    results = [p for p in (RunDir(r.config.out).results for r in planned) if p.is_file()]
    return out_dir, results


def data_to_generate(path: str | Path) -> list[dict[str, Any]]:
    """The suite's `generate:` entries (a mapping or a list of them), each with its task and out."""
    entries = load_yaml(path).get("generate") or []
    entries = [entries] if isinstance(entries, dict) else entries
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("task") and e.get("out") for e in entries):
        raise CocobenchError(f"{path}: 'generate' must be a mapping (or a list of them) with task, out and `cocobench gen TASK` options")
    return entries


def _generate(entry: dict[str, Any], path: str | Path, *, quiet: bool) -> None:
    """Make a `generate:` entry's data with its task's generator settings (the options of `cocobench gen
    TASK`, read from cocobench/tasks/), unless its meta.json shows it was made with these settings."""
    import json

    from cocobench.progress import log
    from cocobench.tasks import get_generator

    given = {str(k).replace("-", "_"): v for k, v in entry.items() if k != "task"}
    settings = get_generator(str(entry["task"])).from_mapping(given, task=str(entry["task"]), where=f"{path} generate")
    meta_file = Path(settings.out) / "meta.json"
    if not meta_file.is_file():
        settings.write(quiet=quiet)
        return
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    recorded = {"seed": meta.get("seed"), **(meta.get("params") or {})}
    differing = [f"{k}: {recorded[k]!r} there, {v!r} here" for k, v in given.items() if k in recorded and recorded[k] != v]
    if meta.get("generator") != settings.task_name() or differing:
        what = "; ".join(differing) or f"it holds {meta.get('generator')} data"
        raise CocobenchError(f"{path}: the data in '{meta_file.parent}' was generated with other settings ({what}); "
                             "remove that directory to generate it again, or change generate.out")
    log(f"data in {meta_file.parent} already generated with these settings, kept", quiet)


def _run_one(run: PlannedRun, position: int, total: int, *, overwrite: bool, quiet: bool) -> None:
    """Train and test one run unless it is finished, resuming it from its last checkpoint if it has one.
    A run another process holds is left to it; a warm-up is waited for, since later runs start from it."""
    from cocobench.progress import log

    run_dir = Path(run.config.out)
    is_warmup = run.config.suite_stage == WARMUP_STAGE
    try:
        with directory_lock(run_dir):
            _run_held(run, position, total, overwrite=overwrite, quiet=quiet)
    except DirectoryInUse as held:
        if not is_warmup:
            log(f"[{position}/{total}] {run.name}: another process ({held.who}) is running it, skipped", quiet)
            return
        log(f"[{position}/{total}] {run.name}: another process ({held.who}) is training this warm-up; waiting for it", quiet)
        with directory_lock(run_dir, wait=True):
            _run_held(run, position, total, overwrite=False, quiet=quiet)  # finished by the other: skipped


def _run_held(run: PlannedRun, position: int, total: int, *, overwrite: bool, quiet: bool) -> None:
    from cocobench.progress import log
    from cocobench.runner import run_experiment

    run_dir = Path(run.config.out)
    layout = RunDir(run_dir)
    run.config.quiet = quiet or run.config.quiet
    if overwrite:
        _clear_run_dir(run_dir)
    if layout.results.is_file():
        check_finished_runs([run])  # another process may have finished it since the suite started
        log(f"[{position}/{total}] {run.name}: results exist, skipped", quiet)
        return
    if run.warmup is not None:
        run.config.init_from = str(warmup_checkpoint(run.warmup))
    run.config.resume = layout.resumable()
    log(f"[{position}/{total}] {run.name}{' (resuming)' if run.config.resume else ''}", quiet)
    if not run.config.resume:
        _clear_run_dir(run_dir)  # a run that died before its first checkpoint: start it afresh
    run_experiment(run.config)


def _clear_run_dir(run_dir: Path) -> None:
    """Everything in a run's directory but our lock on it (the directory is the suite's own)."""
    lock = RunDir(run_dir).lock
    remove_outputs(run_dir, tuple(p.name for p in run_dir.iterdir() if p.name != lock.name))


def warmup_checkpoint(warmup: PlannedRun) -> Path:
    """The warm-up's best checkpoint (its last, when it had no validation split to pick a best)."""
    from cocobench.models import METADATA_FILE

    layout = RunDir(warmup.config.out)
    for checkpoint in (layout.best, layout.last):
        if (checkpoint / METADATA_FILE).is_file():
            return checkpoint
    raise CocobenchError(f"the warm-up '{warmup.name}' left no checkpoint in '{layout.checkpoints}'; run the suite again with --overwrite")
