"""`cocobench table` on hand-made results.json files (schema_version 1, docs/results-format.md)."""

import csv
import io
import json
import statistics

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.analysis.table import build_table, format_option, render_csv, render_markdown, to_json
from cocobench.results import load_results
from tests.conftest import one_line_error
from tests.helpers import OPTIONS, make_results, write_run

def table(*args):
    return CliRunner().invoke(app, ["table", *map(str, args)])


@pytest.fixture
def suite(tmp_path):
    """ProsQA: cot (1 seed), coconut (3 seeds: 90/95/97 %), no-cot; ProntoQA: coconut only (no CoT row)."""
    runs = [
        make_results(method="cot", correct=80, total=100, tokens=50.0, passes=51.0),
        make_results(method="no-cot", correct=70, total=100, tokens=8.0, passes=9.0),
        make_results(method="coconut", seed=0, correct=90, total=100, tokens=14.0, passes=15.0, examples_per_second=100.0),
        make_results(method="coconut", seed=1, correct=95, total=100, tokens=14.0, passes=15.0, examples_per_second=110.0),
        make_results(method="coconut", seed=2, correct=97, total=100, tokens=15.0, passes=16.0, examples_per_second=None),
        make_results(task="prontoqa", method="coconut", correct=99, total=100, tokens=9.0, passes=10.0),
        make_results(method="my-method", correct=50, total=100),
    ]
    for run in runs:
        write_run(tmp_path / "suite", run)
    return tmp_path / "suite"


def test_rows_follow_the_papers_order_and_tasks_table_1s(suite):
    t = build_table(load_results([suite]))
    assert [row.label for row in t.rows] == ["cot", "no-cot", "coconut", "my-method"]
    assert t.tasks == ["prontoqa", "prosqa"]  # Table 1: GSM8k, ProntoQA, ProsQA


def test_row_and_column_orders_come_from_the_method_and_task_registries():
    """Every registered method in the registry's order; tasks in TASK.table_column order, the rest alphabetically."""
    from cocobench.methods import method_names
    from cocobench.tasks import task_names

    runs = [make_results(method=method) for method in reversed(method_names())] + [make_results(method="a-new-method")]
    runs += [make_results(task=task, method="cot") for task in [*task_names(), "a-custom-task"] if task != "prosqa"]
    t = build_table(runs)
    assert [row.label for row in t.rows] == [*method_names(), "a-new-method"]
    assert t.tasks == ["gsm", "prontoqa", "prosqa", "mult", "a-custom-task", "prosqa-symbolic"]


def test_mean_and_sample_std_over_three_seeds(suite):
    coconut = build_table(load_results([suite])).rows[2].cells["prosqa"]
    # By hand: mean (90 + 95 + 97) / 3 = 94; deviations -4, 1, 3 -> (16 + 1 + 9) / (3 - 1) = 13 -> std sqrt(13).
    assert coconut.seeds == [0, 1, 2] and coconut.n == 3
    assert coconut.accuracy == pytest.approx(94.0)
    assert coconut.accuracy_std == pytest.approx(13**0.5)
    assert coconut.generated_tokens == pytest.approx(43 / 3)
    assert coconut.forward_passes == pytest.approx(46 / 3)
    assert coconut.examples_per_second == pytest.approx(105.0)  # the run without a throughput is left out


def test_deltas_against_cot_and_none_without_a_cot_row(suite):
    rows = {row.label: row for row in build_table(load_results([suite])).rows}
    assert rows["coconut"].cells["prosqa"].delta_accuracy == pytest.approx(94.0 - 80.0)
    assert rows["coconut"].cells["prosqa"].delta_tokens == pytest.approx(43 / 3 - 50.0)
    assert rows["no-cot"].cells["prosqa"].delta_accuracy == pytest.approx(-10.0)
    assert rows["cot"].cells["prosqa"].delta_accuracy is None  # the reference itself
    assert rows["cot"].cells["prosqa"].accuracy_std is None  # one seed: no std
    assert rows["coconut"].cells["prontoqa"].delta_accuracy is None  # ProntoQA has no CoT run


def test_another_baseline(suite):
    rows = {row.label: row for row in build_table(load_results([suite]), baseline="no-cot").rows}
    assert rows["cot"].cells["prosqa"].delta_accuracy == pytest.approx(10.0)
    assert rows["cot"].cells["prosqa"].delta_tokens == pytest.approx(42.0)


def test_markdown_has_the_numbers_and_no_delta_columns_without_cot(suite):
    result = table(suite, "--format", "markdown")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[0] == "method" and "prosqa Δacc vs cot" in header and "prontoqa Δacc vs cot" not in header
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    coconut = next(line for line in lines if line.startswith("| coconut "))
    assert "94.0 ± 3.6 (n=3)" in coconut and "+14.0" in coconut and "99.0" in coconut


def test_csv_parses_one_line_per_cell(suite):
    result = table(suite, "--format", "csv")
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["method"], r["task"]) for r in records] == [
        ("cot", "prosqa"), ("no-cot", "prosqa"), ("coconut", "prontoqa"), ("coconut", "prosqa"), ("my-method", "prosqa"),
    ]  # fmt: skip
    coconut = records[3]
    assert coconut["n"] == "3" and coconut["seeds"] == "0 1 2"
    assert float(coconut["accuracy_pct"]) == 94.0 and float(coconut["accuracy_pct_std"]) == pytest.approx(13**0.5, abs=1e-4)
    assert float(coconut["delta_accuracy_pts"]) == 14.0 and records[0]["delta_accuracy_pts"] == ""


def test_json_output(suite):
    result = table(suite, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["baseline"] == "cot" and data["tasks"] == ["prontoqa", "prosqa"]
    coconut = next(row for row in data["rows"] if row["method"] == "coconut")
    assert coconut["options"] == {} and coconut["cells"]["prosqa"]["accuracy_pct"] == 94.0
    assert coconut["cells"]["prosqa"]["delta_tokens"] == round(43 / 3 - 50, 4)
    assert len(coconut["cells"]["prosqa"]["sources"]) == 3


def test_rich_output_and_a_single_results_file(suite):
    result = table(suite / "prosqa-coconut-seed1" / "results.json", suite / "prosqa-cot-seed0")
    assert result.exit_code == 0, result.output
    assert "coconut" in result.stdout and "95.0" in result.stdout and "+15.0" in result.stdout


def test_a_file_given_twice_is_read_once(suite):
    twice = load_results([suite, suite / "prosqa-cot-seed0"])
    assert len(twice) == len(load_results([suite]))


def test_runs_with_different_options_become_labelled_rows_not_an_average(tmp_path):
    runs = [make_results(method="cot", correct=80, total=100)]
    for c, seeds in ((1, (0, 1)), (2, (0,)), (10, (0,))):
        for seed in seeds:
            run = make_results(method="coconut", seed=seed, correct=90 + c, total=100, options={**OPTIONS, "c": c})
            run["run_name"] += f"-c{c}"
            runs.append(run)
    for run in runs:
        write_run(tmp_path, run)
    t = build_table(load_results([tmp_path]))
    assert [row.label for row in t.rows] == ["cot", "coconut (c=1)", "coconut (c=2)", "coconut (c=10)"]
    assert [row.cells["prosqa"].n for row in t.rows] == [1, 2, 1, 1]
    assert t.rows[3].cells["prosqa"].accuracy == pytest.approx(100.0)
    assert t.rows[3].cells["prosqa"].delta_accuracy == pytest.approx(20.0)  # against the only CoT row
    result = table(tmp_path, "--format", "csv")
    assert [r["options"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["", "c=1", "c=2", "c=10"]


def test_a_warm_started_suites_seeds_are_averaged_though_each_starts_from_its_own_checkpoint(tmp_path):
    """A suite trains its warm-up once per seed, so each seed's run records its own init_from (that
    seed's checkpoint): the warm-up identity they share makes them seeds of one experiment, one cell
    of mean +- std. Without a warm-up, runs from different checkpoints are different experiments."""
    warm = {**OPTIONS, "warmup": "cot 12 epochs #0123abcd"}
    for seed, correct in zip((0, 1, 2), (90, 95, 97)):
        write_run(tmp_path / "warm", make_results(seed=seed, correct=correct, total=100, options={**warm, "init_from": "sha256:" + str(seed) * 64}))
    result = table(tmp_path / "warm", "--format", "markdown")
    assert result.exit_code == 0, result.output
    coconut = [line for line in result.stdout.splitlines() if line.startswith("| coconut")]
    assert len(coconut) == 1 and "94.0 ± 3.6 (n=3)" in coconut[0], result.stdout
    for seed in (0, 1):
        write_run(tmp_path / "cold", make_results(seed=seed, options={**OPTIONS, "init_from": "sha256:" + str(seed) * 64}))
    assert [row.cells["prosqa"].n for row in build_table(load_results([tmp_path / "cold"])).rows] == [1, 1]


def test_runs_on_different_test_files_are_not_averaged(tmp_path):
    write_run(tmp_path / "a", make_results(fingerprint="sha256:" + "1" * 64))
    write_run(tmp_path / "b", make_results(seed=1, fingerprint="sha256:" + "2" * 64))
    labels = [row.label for row in build_table(load_results([tmp_path])).rows]
    assert labels == ["coconut (test_data=11111111)", "coconut (test_data=22222222)"]


def test_the_same_seed_twice_is_refused_naming_both_files(tmp_path):
    first = write_run(tmp_path / "a", make_results())
    second = write_run(tmp_path / "b", make_results())
    with pytest.raises(CocobenchError, match="count one seed twice"):
        build_table(load_results([tmp_path]))
    one_line_error(table(tmp_path), str(first), str(second))


def test_pure_build_table_needs_no_files():
    t = build_table([make_results(method="cot"), make_results(method="pause-multipass"), make_results(method="icot")])
    assert [row.method for row in t.rows] == ["cot", "icot", "pause-multipass"]


@pytest.mark.parametrize(
    "content, fragments",
    [
        ('{"schema_version": 1, "task": "prosqa", "metr', ["results.json:1", "malformed JSON", "truncated"]),
        (json.dumps({**make_results(), "schema_version": 3}), ["unknown schema_version 3", "reads 1, 2"]),
        (json.dumps({k: v for k, v in make_results().items() if k != "schema_version"}), ["missing required field 'schema_version'"]),
        (json.dumps({k: v for k, v in make_results().items() if k != "method"}), ["missing required field 'method'"]),
        (json.dumps({**make_results(), "metrics": {"accuracy": 0.5}}), ["missing required field 'metrics.generated_tokens_mean'"]),
        (json.dumps({**make_results(), "seed": "0"}), ["field 'seed' must be an integer"]),
        (json.dumps({**make_results(), "metrics": {**make_results()["metrics"], "accuracy": 80}}), ["fraction in [0, 1]"]),
        ("[1, 2]", ["expected a JSON object"]),
    ],
)
def test_bad_results_files_exit_2_with_one_line(tmp_path, content, fragments):
    path = write_run(tmp_path, make_results())
    path.write_text(content)
    one_line_error(table(path), str(path), *fragments)


def test_missing_path_and_empty_directory_exit_2(tmp_path):
    one_line_error(table(tmp_path / "nope"), "does not exist")
    one_line_error(table(tmp_path), "no results.json found")


def test_no_baseline_runs_is_a_note_not_an_error(tmp_path):
    write_run(tmp_path, make_results())
    result = table(tmp_path, "--format", "markdown", "--baseline", "icot")
    assert result.exit_code == 0 and "no 'icot' runs" in result.stderr and "Δ" not in result.stdout


def test_std_matches_statistics_module(suite):
    # Guard against a population std (n) slipping in: the table uses the sample std (n - 1).
    coconut = build_table(load_results([suite])).rows[2].cells["prosqa"]
    assert coconut.accuracy_std == pytest.approx(statistics.stdev([90, 95, 97]))
    assert coconut.accuracy_std != pytest.approx(statistics.pstdev([90, 95, 97]))


def test_a_task_with_one_variant_joins_the_sweep_row_its_options_match(tmp_path):
    for c in (1, 2):
        run = make_results(method="coconut", options={**OPTIONS, "c": c})
        run["run_name"] += f"-c{c}"
        write_run(tmp_path, run)
    write_run(tmp_path, make_results(task="prontoqa", method="coconut", options={**OPTIONS, "c": 2}))
    rows = build_table(load_results([tmp_path])).rows
    assert [(row.label, sorted(row.cells)) for row in rows] == [("coconut (c=1)", ["prosqa"]), ("coconut (c=2)", ["prontoqa", "prosqa"])]


def test_rich_stacks_one_table_per_task_when_too_wide(suite):
    from rich.console import Console

    from cocobench.analysis.table import render_rich

    def render(width):
        console = Console(width=width, record=True, force_terminal=True)
        render_rich(build_table(load_results([suite])), console)
        return console.export_text()

    wide, narrow = render(250), render(80)
    assert "94.0 ± 3.6 (n=3)" in wide and "94.0 ± 3.6 (n=3)" in narrow
    titles = lambda text: [line.strip() for line in text.splitlines() if line.strip() in ("prosqa", "prontoqa")]  # noqa: E731
    assert titles(narrow) == ["prontoqa", "prosqa"] and titles(wide) == []
    assert max(map(len, narrow.splitlines())) <= 80
    buffer = io.StringIO()  # a file or a CI log: the whole table at full width, no cut cells
    render_rich(build_table(load_results([suite])), Console(width=80, file=buffer))
    piped = buffer.getvalue()
    assert titles(piped) == [] and "…" not in piped and "94.0 ± 3.6 (n=3)" in piped


def test_option_values_are_shown_short():
    assert format_option("sha256:0123456789abcdef0123") == "01234567"  # an init_from fingerprint
    assert [format_option(v) for v in (None, True, 0.0001, 3, "fixed")] == ["none", "true", "0.0001", "3", "fixed"]


def _with_correct(results: dict, correct: list[bool]) -> dict:
    """Set which samples are right (in idx order), keeping the metrics consistent."""
    for sample, right in zip(results["samples"], correct, strict=True):
        sample["correct"] = right
    results["metrics"].update(correct=sum(correct), accuracy=sum(correct) / len(correct))
    return results


def test_significance_pools_the_paired_samples_of_the_seeds_both_rows_ran(tmp_path):
    from cocobench.stats import mcnemar_exact, paired_bootstrap_ci

    cot = [[True] * 5 + [False] * 15, [True] * 6 + [False] * 14, [True] * 20]  # seeds 0, 1, 2
    coconut = {0: [True] * 12 + [False] * 8, 1: [False] * 2 + [True] * 10 + [False] * 8, 3: [False] * 20}  # seed 3: no cot
    for seed, correct in enumerate(cot):
        write_run(tmp_path / "s", _with_correct(make_results(method="cot", seed=seed, total=20), correct))
    for seed, correct in coconut.items():
        write_run(tmp_path / "s", _with_correct(make_results(method="coconut", seed=seed, total=20), correct))
    built = build_table(load_results([tmp_path / "s"]), significance=True)
    sig = next(r for r in built.rows if r.method == "coconut").cells["prosqa"].significance
    before, after = cot[0] + cot[1], coconut[0] + coconut[1]  # seeds 0 and 1 only
    lost = sum(b and not a for b, a in zip(before, after))
    gained = sum(a and not b for b, a in zip(before, after))
    assert (sig.seeds, sig.pairs, sig.lost, sig.gained) == ([0, 1], 40, lost, gained) == ([0, 1], 40, 2, 13)
    assert sig.p_value == pytest.approx(mcnemar_exact(2, 13)) and sig.p_value < 0.05
    low, high = paired_bootstrap_ci(before, after)
    assert (sig.ci_low, sig.ci_high) == pytest.approx((100 * low, 100 * high))
    assert sig.ci_low < 100 * (gained - lost) / 40 < sig.ci_high
    record = to_json(built)["rows"][1]["cells"]["prosqa"]
    assert record["paired_seeds"] == [0, 1] and record["p_value"] == sig.p_value
    assert sig.delta == record["paired_delta_accuracy_pts"] == pytest.approx(100 * 11 / 40)
    text = render_markdown(built)
    assert "p vs cot" in text and "paired Δacc (95% CI)" in text and "exact McNemar" in text
    # coconut also ran seed 3 (no cot there): the paired cell names the seeds it rests on
    assert f"| +27.5 ({sig.ci_low:+.1f} to {sig.ci_high:+.1f}, seeds 0,1) |" in text
    rows = list(csv.DictReader(io.StringIO(render_csv(built))))
    assert float(next(r for r in rows if r["method"] == "coconut")["ci95_low_pts"]) == pytest.approx(sig.ci_low, abs=1e-3)
    assert next(r for r in rows if r["method"] == "cot")["p_value"] == ""
    assert "p vs cot" not in render_markdown(build_table(load_results([tmp_path / "s"])))  # only when asked


def test_significance_leaves_out_seeds_whose_test_examples_differ(tmp_path):
    write_run(tmp_path / "s", make_results(method="cot", seed=0, correct=3))
    other = make_results(method="coconut", seed=0, correct=9)
    other["samples"] = other["samples"][:-1]  # one example fewer: not the same test set
    other["metrics"] |= {"total": 9, "accuracy": 1.0}  # the dropped example was a wrong one: a consistent file
    write_run(tmp_path / "s", other)
    built = build_table(load_results([tmp_path / "s"]), significance=True)
    assert next(r for r in built.rows if r.method == "coconut").cells["prosqa"].significance is None
    result = table(tmp_path / "s", "--significance", "--format", "markdown")
    assert result.exit_code == 0 and "| - | - |" in result.stdout


def test_the_choice_column_pools_seeds_and_says_when_a_row_is_at_chance():
    """choice %: right among answers naming an option, pooled over seeds; `(chance)` when its exact
    binomial p against a coin flip is 0.01 or more. Results without it (older files) show none."""
    def with_choice(seed, method, right, named):
        results = make_results(method=method, seed=seed)
        results["metrics"].update(choice_named=named, choice_accuracy=right / named, choice_p=None)
        return results

    runs = [with_choice(s, "coconut", 18, 20) for s in range(3)] + [with_choice(s, "cot", 11, 20) for s in range(3)]
    table = build_table(runs)
    cells = {row.method: row.cells["prosqa"] for row in table.rows}
    assert cells["coconut"].choice[:2] == (54, 60) and not cells["coconut"].at_chance
    assert cells["cot"].choice[:2] == (33, 60) and cells["cot"].at_chance  # 55% of 60: p = 0.52
    markdown = render_markdown(table)
    assert "choice %" in markdown and "| 90.0 |" in markdown and "55.0 (chance)" in markdown
    assert {r["method"]: r["cells"]["prosqa"]["choice_pct"] for r in to_json(table)["rows"]} == {"cot": 55.0, "coconut": 90.0}
    assert "choice %" not in render_markdown(build_table([make_results(), make_results(method="cot")]))
