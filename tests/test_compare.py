"""`cocobench compare` on hand-made results.json files (schema_version 1, docs/results-format.md)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.analysis.compare import Settings, compare_paths
from tests.conftest import one_line_error
from tests.helpers import OPTIONS, make_results, write_results

def compare(*args):
    return CliRunner().invoke(app, ["compare", *map(str, args)])


def compare_json(*args):
    result = compare(*args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


# -------------------------------------------------------------------------------------------------
# verdicts


def test_identical_runs_ignore_timing(tmp_path):
    base = write_results(tmp_path / "base", make_results(examples_per_second=100.0))
    new = make_results(examples_per_second=120.0)
    new["metrics"]["train_seconds"] = 99.0
    new["metrics"]["epochs"][0]["seconds"] = 7.0
    new_path = write_results(tmp_path / "new", new)
    code, out = compare_json(base, new_path)
    assert code == 0 and out["status"] == "pass"
    [pair] = out["pairs"]
    assert pair["verdict"] == "identical"
    assert pair["p_value"] == 1.0 and pair["ci"] == [0.0, 0.0] and (pair["lost"], pair["gained"]) == (0, 0)
    result = compare(base, new_path)
    assert result.exit_code == 0 and "IDENTICAL" in result.stdout and "PASS" in result.stdout


def test_same_accuracy_different_text_is_within_noise_not_identical(tmp_path):
    base = write_results(tmp_path / "base", make_results())
    new = make_results()
    new["samples"][0]["text"] = "other thoughts # answer 0"
    code, out = compare_json(base, write_results(tmp_path / "new", new))
    assert code == 0 and out["pairs"][0]["verdict"] == "within noise"


def test_significant_improvement(tmp_path):
    base = write_results(tmp_path / "base", make_results(correct=[False] * 10 + [True] * 10))
    new = write_results(tmp_path / "new", make_results(correct=[True] * 20))
    code, out = compare_json(base, new)
    pair = out["pairs"][0]
    assert code == 0 and pair["verdict"] == "improved"
    assert pair["gained"] == 10 and pair["p_value"] == pytest.approx(2 / 2**10)
    assert pair["accuracy"] == {"base": 0.5, "new": 1.0, "change": 0.5, "relative_change": 1.0}
    assert 0.0 < pair["ci"][0] <= 0.5 <= pair["ci"][1] <= 1.0


def test_significant_drop_is_a_regression(tmp_path):
    # b = 6 lost, c = 0 gained: p = 2 / 2^6 = 0.03125 < 0.05
    base = write_results(tmp_path / "base", make_results(correct=[True] * 20))
    new = write_results(tmp_path / "new", make_results(correct=[False] * 6 + [True] * 14))
    code, out = compare_json(base, new)
    pair = out["pairs"][0]
    assert code == 1 and out["status"] == "fail"
    assert pair["verdict"] == "regressed" and pair["p_value"] == pytest.approx(0.03125)
    assert pair["ci"][1] < 0
    result = compare(base, new)
    assert result.exit_code == 1 and "regressed" in result.stdout and "FAIL" in result.stdout


def test_insignificant_drop_is_within_noise(tmp_path):
    # b = 5 lost, c = 0 gained: p = 0.0625 >= 0.05, so it passes
    base = write_results(tmp_path / "base", make_results(correct=[True] * 20))
    new = write_results(tmp_path / "new", make_results(correct=[False] * 5 + [True] * 15))
    code, out = compare_json(base, new)
    assert code == 0 and out["pairs"][0]["verdict"] == "within noise"
    assert out["pairs"][0]["p_value"] == pytest.approx(0.0625)
    # A looser alpha turns the same drop into a regression.
    result = compare(base, new, "--alpha", "0.1")
    assert result.exit_code == 1 and "regressed" in result.stdout


def test_token_counts_beyond_tolerance_fail_either_way(tmp_path):
    base = write_results(tmp_path / "base", make_results(tokens=6, passes=7))
    for tokens in (7, 5):  # +16.7% and -16.7%: the method behaves differently
        new = write_results(tmp_path / f"new{tokens}", make_results(tokens=tokens, passes=7))
        code, out = compare_json(base, new)
        assert code == 1 and out["pairs"][0]["verdict"] == "tokens changed"
        assert "generated_tokens_mean" in out["pairs"][0]["reasons"][0]
    new = write_results(tmp_path / "new", make_results(tokens=6, passes=8))
    code, out = compare_json(base, new)
    assert code == 1 and "forward_passes_mean" in out["pairs"][0]["reasons"][0]
    code, out = compare_json(base, new, "--tokens-rtol", "0.2")
    assert code == 0 and out["pairs"][0]["verdict"] == "within noise"


def test_token_counts_from_or_to_zero_fail(tmp_path):
    """A relative tolerance is undefined on a zero baseline: any change from 0 is a change (e.g. a
    method that stopped emitting its thoughts, or started emitting tokens where it emitted none)."""
    base = write_results(tmp_path / "base", make_results(tokens=0, passes=1))
    new = write_results(tmp_path / "new", make_results(tokens=3, passes=1))
    code, out = compare_json(base, new)
    assert code == 1 and out["pairs"][0]["verdict"] == "tokens changed"
    assert "generated_tokens_mean changed from zero" in out["pairs"][0]["reasons"][0]
    code, out = compare_json(new, base)  # 3 -> 0 is -100%
    assert code == 1 and out["pairs"][0]["verdict"] == "tokens changed"
    code, out = compare_json(base, write_results(tmp_path / "same", make_results(tokens=0, passes=1)))
    assert code == 0 and out["pairs"][0]["verdict"] == "identical"  # 0 -> 0 is no change


def test_slower_is_only_a_warning(tmp_path):
    base = write_results(tmp_path / "base", make_results(examples_per_second=100.0))
    new = write_results(tmp_path / "new", make_results(examples_per_second=50.0))
    code, out = compare_json(base, new)
    pair = out["pairs"][0]
    assert code == 0 and pair["verdict"] == "identical"
    assert pair["examples_per_second"]["relative_change"] == -0.5
    assert any("50% slower" in w for w in pair["warnings"])


# -------------------------------------------------------------------------------------------------
# matching


def test_missing_run_in_new_fails_and_extra_run_is_informational(tmp_path):
    write_results(tmp_path / "base" / "seed0", make_results(seed=0))
    write_results(tmp_path / "base" / "seed1", make_results(seed=1))
    write_results(tmp_path / "new" / "seed0", make_results(seed=0))
    code, out = compare_json(tmp_path / "base", tmp_path / "new")
    assert code == 1
    [missing] = out["unmatched"]
    assert missing["verdict"] == "missing in new" and missing["seed"] == 1 and missing["new"] is None

    code, out = compare_json(tmp_path / "new", tmp_path / "base")  # the other way round
    assert code == 0 and out["status"] == "pass"
    [extra] = out["unmatched"]
    assert extra["verdict"] == "only in new" and extra["seed"] == 1 and extra["baseline"] is None
    assert out["counts"] == {"identical": 1, "only in new": 1}


def test_options_differ_are_reported_by_key_not_compared(tmp_path):
    base = write_results(tmp_path / "base", make_results())
    new = write_results(tmp_path / "new", make_results(options={**OPTIONS, "lr": 0.0002, "epochs": 3}))
    code, out = compare_json(base, new)
    assert code == 1 and out["pairs"] == []
    [item] = out["unmatched"]
    assert item["verdict"] == "options differ"
    assert "epochs 2 -> 3" in item["reason"] and "lr 0.0001 -> 0.0002" in item["reason"]
    assert "model" not in item["reason"]

    options = dict(OPTIONS)
    del options["k"]
    code, out = compare_json(base, write_results(tmp_path / "new2", make_results(options=options)))
    assert code == 1 and "k null -> (absent)" in out["unmatched"][0]["reason"]


def test_option_order_does_not_matter(tmp_path):
    base = write_results(tmp_path / "base", make_results())
    new = write_results(tmp_path / "new", make_results(options=dict(reversed(list(OPTIONS.items())))))
    code, out = compare_json(base, new)
    assert code == 0 and out["pairs"][0]["verdict"] == "identical"


def test_suite_directories_are_matched_by_key_not_by_name(tmp_path):
    runs = [("prosqa", "coconut", 0), ("prosqa", "coconut", 1), ("prosqa", "cot", 0), ("gsm", "coconut", 0)]
    for task, method, seed in runs:
        write_results(tmp_path / "base" / f"{task}-{method}-seed{seed}", make_results(task=task, method=method, seed=seed))
        # Different directory names and nesting on the new side; matching uses the file's contents.
        write_results(tmp_path / "new" / "nested" / f"run-{seed}-{method}-{task}", make_results(task=task, method=method, seed=seed))
    # The only regression is in one run of the suite.
    write_results(tmp_path / "new" / "nested" / "run-1-coconut-prosqa",
              make_results(seed=1, correct=[False] * 8 + [True] * 12, golds=[f"answer {i}" for i in range(20)]))
    write_results(tmp_path / "base" / "prosqa-coconut-seed1", make_results(seed=1, correct=[True] * 20))
    # An interrupted atomic write leaves a hidden temporary directory: never a run.
    write_results(tmp_path / "new" / ".prosqa-coconut-seed0.tmp", make_results(seed=0, correct=[False] * 10))
    code, out = compare_json(tmp_path / "base", tmp_path / "new")
    assert code == 1 and out["unmatched"] == []
    verdicts = {(p["task"], p["method"], p["seed"]): p["verdict"] for p in out["pairs"]}
    assert verdicts == {("gsm", "coconut", 0): "identical", ("prosqa", "coconut", 0): "identical",
                        ("prosqa", "coconut", 1): "regressed", ("prosqa", "cot", 0): "identical"}


def test_a_side_may_be_a_file_or_a_run_directory(tmp_path):
    path = write_results(tmp_path / "run", make_results())
    assert compare(path, tmp_path / "run").exit_code == 0
    assert compare(tmp_path / "run", tmp_path).exit_code == 0  # tmp_path holds exactly one run


# -------------------------------------------------------------------------------------------------
# unpaired samples


def test_different_test_data_is_unpaired(tmp_path):
    base = write_results(tmp_path / "base", make_results())
    new = write_results(tmp_path / "new", make_results(fingerprint="sha256:" + "c" * 64))
    code, out = compare_json(base, new)
    pair = out["pairs"][0]
    assert code == 1 and pair["verdict"] == "unpaired samples"
    assert "test_fingerprint" in pair["reasons"][0] and pair["p_value"] is None and pair["ci"] is None


def test_different_idx_sets_or_gold_are_unpaired(tmp_path):
    base = write_results(tmp_path / "base", make_results())
    new = write_results(tmp_path / "idx", make_results(idxs=list(range(1, 11))))
    code, out = compare_json(base, new)
    assert code == 1 and "1 idx only in baseline, 1 only in new" in out["pairs"][0]["reasons"][0]

    golds = [f"answer {i}" for i in range(10)]
    golds[3] = "another answer"
    new = write_results(tmp_path / "gold", make_results(golds=golds))
    code, out = compare_json(base, new)
    assert code == 1 and "gold answer differs at idx 3" in out["pairs"][0]["reasons"][0]


def test_samples_pair_by_idx_not_by_position(tmp_path):
    base = make_results(correct=[True] * 5 + [False] * 5)
    new = make_results(correct=[True] * 5 + [False] * 5)
    new["samples"].reverse()
    code, out = compare_json(write_results(tmp_path / "base", base), write_results(tmp_path / "new", new))
    assert code == 0 and out["pairs"][0]["verdict"] == "identical"


# -------------------------------------------------------------------------------------------------
# bad input: exit 2, one line naming the file and the fix


def test_missing_path_and_empty_directory(tmp_path):
    good = write_results(tmp_path / "good", make_results())
    one_line_error(compare(tmp_path / "nope", good), "baseline", "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(compare(good, tmp_path / "empty"), "no results.json found", "empty")


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda text, r: text[: len(text) // 2], ["malformed JSON", "truncated"]),
        (lambda text, r: "", ["malformed JSON"]),
        (lambda text, r: "[1, 2]", ["expected a JSON object"]),
        (lambda text, r: json.dumps({k: v for k, v in r.items() if k != "schema_version"}), ["schema_version"]),
        (lambda text, r: json.dumps({**r, "schema_version": 3}), ["unknown schema_version 3", "upgrade cocobench"]),
        (lambda text, r: json.dumps({k: v for k, v in r.items() if k != "task"}), ["missing required field 'task'"]),
        (lambda text, r: json.dumps({**r, "metrics": {k: v for k, v in r["metrics"].items() if k != "accuracy"}}),
         ["missing required field 'metrics.accuracy'"]),
        (lambda text, r: json.dumps({**r, "seed": "0"}), ["field 'seed' must be an integer"]),
        (lambda text, r: json.dumps({**r, "metrics": {**r["metrics"], "generated_tokens_mean": float("nan")}}),
         ["'metrics.generated_tokens_mean' must be a finite number"]),
        (lambda text, r: text.encode("utf-16"), ["cannot read", "not UTF-8"]),
        (lambda text, r: json.dumps({**r, "samples": [{k: v for k, v in s.items() if k != "correct"} for s in r["samples"]]}),
         ["missing required field 'samples[0].correct'"]),
        (lambda text, r: json.dumps({**r, "samples": r["samples"][:-1]}), ["metrics say 8/10", "incomplete"]),
        (lambda text, r: json.dumps({**r, "samples": r["samples"] + r["samples"][:1]}), ["idx 0 appears twice"]),
    ],
)
def test_malformed_results_exit_2_with_one_line(tmp_path, mutate, fragments):
    results = make_results()
    good = write_results(tmp_path / "good", results)
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    content = mutate(good.read_text(), results)
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = one_line_error(compare(good, bad), str(bad), *fragments)
    assert "re-run" in line or "upgrade" in line  # every message names a fix


def test_the_same_run_twice_on_one_side_is_ambiguous(tmp_path):
    write_results(tmp_path / "suite" / "a", make_results())
    write_results(tmp_path / "suite" / "b", make_results())
    one_line_error(compare(tmp_path / "suite", tmp_path / "suite" / "a"), "are the same run")


@pytest.mark.parametrize(("flag", "value"), [("--alpha", "1.5"), ("--alpha", "0"), ("--tokens-rtol", "-0.1"), ("--bootstrap", "0")])
def test_bad_settings_exit_2(tmp_path, flag, value):
    good = write_results(tmp_path / "good", make_results())
    one_line_error(compare(good, good, flag, value), flag)


def test_unknown_format_is_a_usage_error(tmp_path):
    good = write_results(tmp_path / "good", make_results())
    one_line_error(compare(good, good, "--format", "html"), "--format")


# -------------------------------------------------------------------------------------------------
# output formats


def _mixed_suites(tmp_path):
    write_results(tmp_path / "base" / "s0", make_results(seed=0, correct=[True] * 20))
    write_results(tmp_path / "new" / "s0", make_results(seed=0, correct=[False] * 7 + [True] * 13))
    write_results(tmp_path / "base" / "s1", make_results(seed=1))
    write_results(tmp_path / "new" / "s1", make_results(seed=1))
    write_results(tmp_path / "base" / "s2", make_results(seed=2))
    write_results(tmp_path / "new" / "s3", make_results(seed=3, options={**OPTIONS, "k": 3}))
    return tmp_path / "base", tmp_path / "new"


def test_markdown_is_a_pr_comment_with_every_verdict(tmp_path):
    base, new = _mixed_suites(tmp_path)
    result = compare(base, new, "--format", "markdown")
    assert result.exit_code == 1
    text = result.stdout
    assert text.startswith("### cocobench compare :x:")
    assert "**FAIL: 1 regressed, 1 missing in new, 1 identical, 1 only in new" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| run | accuracy | change | p | CI |") and set(rows[1]) <= set("|- ")
    assert len(rows) == 2 + 4  # header, rule, 2 pairs, 2 unmatched
    assert all(line.count("|") == rows[0].count("|") for line in rows)
    for verdict in ("regressed", "IDENTICAL", "missing in new", "only in new"):
        assert verdict in text
    assert "McNemar p=0.0156" in text  # 2 / 2^7


def test_json_has_numbers_verdicts_unmatched_and_status(tmp_path):
    base, new = _mixed_suites(tmp_path)
    code, out = compare_json(base, new)
    assert code == 1 and out["status"] == "fail"
    assert out["settings"] == {"alpha": 0.05, "tokens_rtol": 0.05, "speed_rtol": 0.25, "bootstrap": 10000, "seed": 0}
    assert out["counts"] == {"identical": 1, "only in new": 1, "regressed": 1, "missing in new": 1}
    regressed = next(p for p in out["pairs"] if p["verdict"] == "regressed")
    for key in ("accuracy", "generated_tokens_mean", "forward_passes_mean", "examples_per_second", "p_value", "ci", "n", "lost", "gained"):
        assert key in regressed
    assert regressed["accuracy"]["change"] == pytest.approx(-0.35)
    assert regressed["baseline"]["path"].endswith("s0/results.json")
    assert {u["verdict"] for u in out["unmatched"]} == {"missing in new", "only in new"}


def test_rich_table_lists_runs_notes_and_summary(tmp_path):
    base, new = _mixed_suites(tmp_path)
    result = CliRunner().invoke(app, ["compare", str(base), str(new)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    out = result.stdout
    for text in ("prosqa-coconut-seed0", "regressed", "IDENTICAL", "missing in new", "only in new", "McNemar p=0.0156"):
        assert text in out
    assert out.strip().splitlines()[-1].startswith("FAIL: 1 regressed")


def test_output_is_deterministic(tmp_path):
    base, new = _mixed_suites(tmp_path)
    first = compare(base, new, "--format", "json").stdout
    assert first == compare(base, new, "--format", "json").stdout
    assert first != compare(base, new, "--format", "json", "--seed", "1").stdout  # the seed drives the CI


def test_compare_paths_api(tmp_path):
    base = write_results(tmp_path / "base", make_results(correct=[True] * 20))
    new = write_results(tmp_path / "new", make_results(correct=[False] * 2 + [True] * 18))
    comparison = compare_paths(base, new, Settings(alpha=0.6))  # p = 0.5
    assert comparison.failed and comparison.pairs[0].verdict == "regressed"
    assert comparison.summary().startswith("FAIL: 1 regressed")


def test_a_version_1_file_pairs_with_a_version_2_file(tmp_path):
    """Schema 2 adds provenance (git commit, start time, torch threads) and the accuracy's standard error,
    none of them in `options`: the committed version-1 baselines still pair with new runs."""
    old = make_results(correct=[True, False, True, True])
    new = make_results(correct=[True, False, True, True]) | {"schema_version": 2, "git_commit": "a" * 40, "git_dirty": False,
                                                      "started_at": "2026-11-26T14:19:32Z", "torch_threads": 1}
    new["metrics"] = new["metrics"] | {"accuracy_stderr": (0.75 * 0.25 / 4) ** 0.5}
    write_results(tmp_path / "old" / "run", old)
    write_results(tmp_path / "new" / "run", new)
    result = compare(tmp_path / "old", tmp_path / "new")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout and "IDENTICAL" in result.stdout and "options differ" not in result.stdout


@pytest.mark.slow
def test_the_committed_results_still_load():
    """One reader for every command: each committed results.json loads (schema 1 upgraded), and both
    `table` (load_results) and `compare` (load_side) see the same runs in every committed suite."""
    from cocobench.analysis.compare import load_side
    from cocobench.results import load_results, read_results

    root = Path(__file__).resolve().parents[1] / "results"
    files = sorted(root.glob("*/*/results.json"))
    assert len(files) >= 10 and any(json.loads(f.read_text())["schema_version"] == 1 for f in files)
    for path in files:
        results = read_results(path)
        assert results["options"]["precision"] in ("fp32", "bf16")  # recorded, or filled in for schema 1
    for suite in sorted({f.parent.parent for f in files}):
        runs = load_results([suite])
        assert [r["_source"] for r in runs] == [str(run.path) for run in load_side(suite, "baseline")]
        assert all(r["metrics"]["total"] == len(r["samples"]) > 0 for r in runs)


def test_tables_show_accuracy_in_percent_and_json_in_fractions(tmp_path):
    """As `table` does: 50.0→100.0 % in rich and markdown; the JSON keeps the fractions of results.json."""
    base = write_results(tmp_path / "base", make_results(correct=[False] * 10 + [True] * 10))
    new = write_results(tmp_path / "new", make_results(correct=[True] * 20))
    for output_format in ("markdown", "rich"):
        text = compare(base, new, "--format", output_format).stdout
        assert "50.0→100.0 %" in text and "+50.0 pts" in text and "0.500→1.000" not in text
    assert compare_json(base, new)[1]["pairs"][0]["accuracy"] == {"base": 0.5, "new": 1.0, "change": 0.5, "relative_change": 1.0}


def test_csv_is_refused_in_one_line(tmp_path):
    path = write_results(tmp_path / "base", make_results())
    one_line_error(compare(path, path, "--format", "csv"), "`compare` cannot print --format csv", "rich, markdown, json")
