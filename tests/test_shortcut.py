"""The farther-option shortcut beside the table: what ProsQA's answer can be guessed from without search."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.tasks.prosqa import farther_option, shortcut_accuracy
from tests.conftest import shared_file

# start nodes 0 and 1; 0 -> 2 -> 3 -> 4 (target, 4 edges from... 3 from node 0); 1 -> 5 (neg_target, 1 edge)
BASE = {"edges": [[0, 2], [2, 3], [3, 4], [1, 5]], "idx_to_symbol": list("abcdef")}


def test_the_option_farther_from_the_start_nodes_is_picked():
    assert farther_option(BASE | {"target": 4, "neg_target": 5}) == "right"
    assert farther_option(BASE | {"target": 5, "neg_target": 4}) == "other"
    assert farther_option(BASE | {"target": 2, "neg_target": 5}) == "tie"
    assert farther_option(BASE | {"target": 4, "neg_target": 0}) == "right"  # a start node is at distance 0
    assert shortcut_accuracy([BASE | {"target": 4, "neg_target": 5}, BASE | {"target": 2, "neg_target": 5}]) == 0.75


def test_on_the_official_test_it_scores_94_percent():
    path = shared_file("data", "prosqa", "prosqa_test.json")
    examples = json.loads(path.read_text())
    picks = [farther_option(e) for e in examples]
    assert (picks.count("right"), picks.count("tie"), len(picks)) == (438, 62, 500)
    assert shortcut_accuracy(examples) == 0.938


def test_the_table_prints_the_shortcut_on_the_runs_questions(tmp_path, monkeypatch):
    from tests.helpers import make_results, write_run

    test = [BASE | {"question": "q", "steps": [], "answer": "a", "target": 4, "neg_target": 5},
            BASE | {"question": "q", "steps": [], "answer": "a", "target": 2, "neg_target": 5}]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.json").write_text(json.dumps(test))
    from cocobench.io import file_fingerprint

    run = make_results(method="cot", correct=1, total=2)
    run["data"] = {**run.get("data", {}), "test_file": "data/test.json", "test_fingerprint": file_fingerprint(tmp_path / "data" / "test.json")}
    write_run(tmp_path / "runs", run)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["table", "runs", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["shortcuts"]["prosqa"]["accuracy_pct"] == 75.0
