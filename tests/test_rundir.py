"""RunDir: the one owner of a run directory's file names."""

from __future__ import annotations

import ast
from pathlib import Path

from cocobench.config import RunConfig
from cocobench.rundir import RUN_OUTPUTS, RUNS_ROOT, RunDir

PACKAGE = Path(__file__).resolve().parents[1] / "cocobench"


def test_the_layout():
    run = RunDir("out/run")
    assert run.path == Path("out/run") and run.name == "run"
    assert run.config == Path("out/run/config.yaml") and run.start == Path("out/run/start.json")
    assert run.init_from == Path("out/run/init_from.json") and run.results == Path("out/run/results.json")
    assert run.best == Path("out/run/checkpoints/best") and run.last == Path("out/run/checkpoints/last")
    assert run.tensorboard == Path("out/run/tensorboard") and run.lock == Path("out/run/.cocobench.lock")
    assert {"checkpoints", "config.yaml", "start.json", "init_from.json", "results.json", "tensorboard", "wandb"} == set(RUN_OUTPUTS)


def test_a_run_goes_to_its_out_or_under_runs():
    assert RunDir.of(RunConfig(out="elsewhere")).path == Path("elsewhere")
    cfg = RunConfig(method="cot", task="prosqa")
    assert RunDir.of(cfg).path == RUNS_ROOT / cfg.run_name()


def test_resumable_when_last_holds_a_trainer_state(tmp_path):
    run = RunDir(tmp_path)
    assert not run.resumable()
    run.last.mkdir(parents=True)
    (run.last / "trainer_state.pt").write_bytes(b"")
    assert run.resumable()


def test_no_other_module_spells_the_file_names():
    names = {"results.json", "config.yaml", "start.json", "init_from.json", "trainer_state.pt", "checkpoints"}  # the lock: io's LOCK_FILE
    spelled = sorted(
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value!r}"
        for path in PACKAGE.rglob("*.py") if path.name != "rundir.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value in names
    )
    assert not spelled, f"use cocobench.rundir for these: {spelled}"
