"""`cocobench analyze curve`: accuracy vs generated tokens over runs; the example sweep suites plan."""

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench.analysis.curve import build_curve
from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.results import load_results
from cocobench.suite import plan_suite
from tests.conftest import one_line_error
from tests.helpers import make_results, write_run

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks" / "analysis"


@pytest.fixture
def sweep(tmp_path):
    """Coconut at 3 stages (fewer tokens, more accuracy) and CoT with 0..2 steps removed."""
    runs = [
        make_results(method="coconut", options={"max_latent_stage": m}, correct=6 + m, total=10, tokens=30.0 - 5 * m, passes=31.0 - 4 * m)
        for m in (1, 2, 3)
    ] + [
        make_results(method="coconut-no-thought", options={"max_latent_stage": m}, correct=7 - m, total=10, tokens=30.0 - 6 * m, passes=31.0 - 6 * m)
        for m in (1, 2)
    ] + [make_results(method="cot", options={}, correct=6, total=10, tokens=30.0, passes=31.0)]  # fmt: skip
    for run in runs:
        run["run_name"] = f"{run['method']}-m{run['options'].get('max_latent_stage', 0)}"
        write_run(tmp_path / "sweep", run)
    return tmp_path / "sweep"


def curve(*args):
    return CliRunner().invoke(app, ["analyze", "curve", *map(str, args)])


def test_one_point_per_run_grouped_by_method_in_token_order(sweep):
    points = build_curve(load_results([sweep]))
    assert [(p.group, p.name) for p in points] == [
        ("coconut", "coconut-m3"), ("coconut", "coconut-m2"), ("coconut", "coconut-m1"),
        ("coconut-no-thought", "coconut-no-thought-m2"), ("coconut-no-thought", "coconut-no-thought-m1"), ("cot", "cot-m0"),
    ]  # fmt: skip
    m3 = points[0]
    assert (m3.accuracy, m3.generated_tokens, m3.forward_passes) == (0.9, 15.0, 19.0)
    assert m3.accuracy_stderr == pytest.approx((0.9 * 0.1 / 10) ** 0.5)  # computed for schema-1 files, which lack it
    assert {p.group for p in build_curve(load_results([sweep]), "none")} == {"all runs"}
    with pytest.raises(CocobenchError, match="--group-by"):
        build_curve(load_results([sweep]), "seed")


def test_runs_of_two_tasks_never_share_a_line_and_equal_names_are_told_apart(tmp_path):
    write_run(tmp_path / "a", make_results(task="prosqa", method="cot"))
    write_run(tmp_path / "b", make_results(task="prosqa", method="cot", seed=1) | {"run_name": "prosqa-cot-seed0"})
    write_run(tmp_path / "a", make_results(task="prontoqa", method="cot"))
    points = build_curve(load_results([tmp_path]))
    assert sorted(p.group for p in points) == ["prontoqa: cot", "prosqa: cot", "prosqa: cot"]
    assert sorted(p.name for p in points if p.task == "prosqa") == ["a/prosqa-cot-seed0", "b/prosqa-cot-seed0"]


@pytest.mark.slow
def test_curve_command_writes_json_csv_and_prints_the_table(sweep, tmp_path):
    result = curve(sweep, "--out", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert json.loads((tmp_path / "out" / "curve.json").read_text()) == printed
    assert printed["groups"]["coconut"] == ["coconut-m3", "coconut-m2", "coconut-m1"]
    assert [p["accuracy"] for p in printed["points"][:3]] == [0.9, 0.8, 0.7]  # fractions, as in results.json
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "curve.csv").read_text())))
    assert len(rows) == 6 and rows[0]["run"] == "coconut-m3" and float(rows[0]["generated_tokens"]) == 15.0
    rich = curve(sweep, "--out", tmp_path / "out", "-q")
    assert rich.exit_code == 0 and "coconut-no-thought-m2" in rich.stdout and "90.0" in rich.stdout and rich.stderr == ""
    markdown = curve(sweep, "--out", tmp_path / "out", "--format", "markdown", "-q").stdout
    assert "| coconut | coconut-m3 | 90.0 | 9.5 | 15.0 | 19.0 |" in markdown


@pytest.mark.slow
def test_warm_up_runs_are_left_out_unless_alone(sweep, tmp_path):
    warmup = make_results(method="cot", options={}) | {"run_name": "prosqa-cot-warmup-seed0"}
    warmup["config"] = {**warmup["config"], "suite_stage": "warmup"}
    write_run(sweep, warmup)
    result = curve(sweep, "--out", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0 and "left out 1 warm-up runs" in result.stderr
    assert "prosqa-cot-warmup-seed0" not in [p["run"] for p in json.loads(result.stdout)["points"]]
    alone = curve(sweep / "prosqa-cot-warmup-seed0", "--out", tmp_path / "out", "--format", "json")
    assert [p["run"] for p in json.loads(alone.stdout)["points"]] == ["prosqa-cot-warmup-seed0"]
    assert "wrote" in alone.stderr and "left out" not in alone.stderr  # (a note first when matplotlib is missing)


def test_curve_command_bad_input_is_one_line(sweep, tmp_path):
    one_line_error(curve(tmp_path / "nope"), "does not exist")
    one_line_error(curve(sweep, "--group-by", "seed"), "--group-by")
    (tmp_path / "file").write_text("")
    one_line_error(curve(sweep, "--out", tmp_path / "file"), "file")


@pytest.mark.parametrize("name", ["efficiency.yaml", "csweep.yaml"])
def test_the_analysis_suites_plan(name):
    _, out, planned = plan_suite(BENCHMARKS / name)
    names = [run.name for run in planned]
    assert len(set(names)) == len(names) >= 4
    for run in planned:
        assert run.config.out == str(out / run.name)
        if run.config.init_from:  # a run starting from a checkpoint starts from one of this suite's runs
            assert run.config.init_from.startswith(f"{out}/{planned[0].name}/")


def test_the_efficiency_suite_stops_each_run_at_its_stage():
    """Coconut and the no-thought control at stage m, never the all-removed stage past it, all from one warm start."""
    _, _, planned = plan_suite(BENCHMARKS / "efficiency.yaml")
    assert [run.config.suite_stage for run in planned][:2] == ["warmup", None]
    assert len({run.config.warmup for run in planned[1:]}) == 1 and planned[1].config.warmup
    staged = [run.config for run in planned if run.config.method != "cot"]
    assert {(cfg.method, cfg.max_latent_stage) for cfg in staged} == {(m, s) for m in ("coconut", "coconut-no-thought") for s in (1, 2, 3)}
    for cfg in staged:
        assert (cfg.epochs - 1) // cfg.epochs_per_stage == cfg.max_latent_stage  # the last epoch trains at stage m


def test_the_c_sweep_covers_c_0_1_2():
    _, _, planned = plan_suite(BENCHMARKS / "csweep.yaml")
    swept = {(run.config.method, run.config.c) for run in planned if run.config.method != "cot"}
    assert swept == {("coconut-no-thought", 1), ("coconut", 1), ("coconut", 2)}  # c = 0: no thoughts at all


def test_the_plot_merges_seeds_into_one_point_with_a_spread(tmp_path):
    """Three seeds of one configuration are one point (mean, std); a second setting of the same method is
    another point of its line; runs differing only in seed and warm-up fingerprint count as seeds."""
    from cocobench.analysis.curve import _dodge, configurations

    for seed, correct in enumerate((5, 6, 7)):
        run = make_results(method="cot", options={"init_from": f"fp{seed}"}, seed=seed, correct=correct, total=10)
        write_run(tmp_path / "s", run | {"run_name": f"prosqa-cot-seed{seed}"})
    write_run(tmp_path / "s", make_results(method="cot", options={"lr": 0.01}, correct=9, total=10) | {"run_name": "prosqa-cot-lr-seed0"})
    merged = configurations(build_curve(load_results([tmp_path / "s"])))
    assert [(c.label, len(c.runs)) for c in merged] == [("prosqa-cot", 3), ("prosqa-cot-lr", 1)]  # equal tokens: by label
    three = next(c for c in merged if len(c.runs) == 3)
    assert three.accuracy == pytest.approx(0.6) and three.accuracy_std == pytest.approx(0.1)
    assert next(c for c in merged if len(c.runs) == 1).accuracy_std is None
    shifts = _dodge({"a": 8.0, "b": 8.0, "c": 8.1, "d": 28.0})
    assert shifts["d"] == 0.0 and len({shifts["a"], shifts["b"], shifts["c"]}) == 3 and sum(shifts[k] for k in "abc") == pytest.approx(0.0)
