"""One reader of results.json for every command: the same file is accepted or refused, with the same line, everywhere."""

import json

import pytest
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.errors import CocobenchError
from cocobench.results import REQUIRED_FIELDS, find_results, load_results, read_results
from tests.conftest import one_line_error
from tests.helpers import make_results, write_run


def readers(path, good):
    """Every command that reads results, each given the file `path` (compare: as the new side)."""
    return {
        "table": ["table", path],
        "compare": ["compare", good, path],
        "analyze paths": ["analyze", "paths", path, "--out", path.parent / "analysis"],
        "analyze curve": ["analyze", "curve", path, "--out", path.parent / "analysis"],
    }


MALFORMED = [
    (lambda r: "{\"schema_version\": 1, \"ta", "malformed JSON"),
    (lambda r: "[1, 2]", "expected a JSON object"),
    (lambda r: json.dumps({**r, "schema_version": 3}), "unknown schema_version 3"),
    (lambda r: json.dumps({k: v for k, v in r.items() if k != "method"}), "missing required field 'method'"),
    (lambda r: json.dumps({**r, "data": {}}), "missing required field 'data.test_fingerprint'"),
    (lambda r: json.dumps({**r, "seed": True}), "field 'seed' must be an integer"),
    (lambda r: json.dumps({**r, "metrics": {**r["metrics"], "accuracy": 80}}), "fraction in [0, 1]"),
    (lambda r: json.dumps({**r, "metrics": {**r["metrics"], "forward_passes_mean": float("inf")}}), "must be a finite number"),
    (lambda r: json.dumps({**r, "samples": [{k: v for k, v in s.items() if k != "idx"} for s in r["samples"]]}), "'samples[0].idx'"),
    (lambda r: json.dumps({**r, "samples": r["samples"][1:]}), "samples hold"),
    # every sample there, one of them edited: only the count of correct ones disagrees
    (lambda r: json.dumps({**r, "samples": [{**r["samples"][0], "correct": False}, *r["samples"][1:]]}), "metrics say 8/10 correct but samples hold 7/10"),
    # the numbers tables print and compare tests must be the samples' own
    (lambda r: json.dumps({**r, "metrics": {**r["metrics"], "accuracy": 0.99}}), "metrics.accuracy is 0.99 but the samples give 0.8"),
    (lambda r: json.dumps({**r, "metrics": {**r["metrics"], "correct": 0, "total": 0, "accuracy": 0.5}, "samples": []}), "no samples"),
    (lambda r: json.dumps({**r, "metrics": {**r["metrics"], "generated_tokens_mean": 2.0}}), "generated_tokens_mean is 2.0 but the samples give 6.0"),
    (lambda r: json.dumps({**r, "metrics": {**r["metrics"], "forward_passes_mean": -7.0},
                           "samples": [{**s, "forward_passes": -7} for s in r["samples"]]}), "samples[0].forward_passes must be >= 0"),
    (lambda r: json.dumps({**r, "method": ""}), "field 'method' is empty"),
]


@pytest.mark.parametrize(("mutate", "fragment"), MALFORMED)
def test_every_reader_refuses_a_malformed_file_with_the_same_line(tmp_path, mutate, fragment):
    good = write_run(tmp_path / "good", make_results())
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text(mutate(make_results()))
    lines = {name: one_line_error(CliRunner().invoke(app, list(map(str, args))), str(bad), fragment) for name, args in readers(bad, good).items()}
    assert len(set(lines.values())) == 1, lines
    with pytest.raises(CocobenchError, match="re-run|upgrade"):  # every message names a fix
        read_results(bad)


def test_required_fields_list_parents_before_children():
    seen = set()
    for dotted, _ in REQUIRED_FIELDS:
        parent = dotted.rpartition(".")[0]
        assert not parent or parent in seen, dotted
        seen.add(dotted)


def test_find_results_takes_a_file_a_run_or_a_suite(tmp_path):
    first = write_run(tmp_path / "suite", make_results(seed=0))
    second = write_run(tmp_path / "suite", make_results(seed=1))
    (tmp_path / "suite" / ".hidden.tmp").mkdir()
    (tmp_path / "suite" / ".hidden.tmp" / "results.json").write_text("{}")  # an atomic-write leftover: never a run
    assert find_results(first) == [first]
    assert find_results(first.parent) == [first]
    assert find_results(tmp_path / "suite") == sorted([first, second])
    with pytest.raises(CocobenchError, match="baseline '.*' does not exist"):
        find_results(tmp_path / "nope", "baseline")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CocobenchError, match="no results.json found under '.*empty'"):
        find_results(tmp_path / "empty")


def test_load_results_reads_a_file_once_and_names_its_source(tmp_path):
    path = write_run(tmp_path / "suite", make_results())
    runs = load_results([tmp_path / "suite", path, path.parent])
    assert len(runs) == 1 and runs[0]["_source"] == str(path)
    assert runs[0]["options"]["precision"] == "fp32"  # upgraded: a schema-1 CPU run ran fp32
