"""Every suite shipped in benchmarks/ plans: its keys, methods and settings are valid as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocobench.suite import plan_suite

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SUITES = sorted(BENCHMARKS.rglob("*.yaml"))


def test_the_benchmarks_folder_holds_suites():
    assert {p.relative_to(BENCHMARKS).as_posix() for p in SUITES} >= {"demo.yaml", "smoke.yaml", "cpu/prosqa.yaml", "paper/gsm8k-codi.yaml"}


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.relative_to(BENCHMARKS).as_posix())
def test_every_shipped_suite_plans(suite, tmp_path):
    _, _, planned = plan_suite(suite, tmp_path / "out")
    assert planned
    for run in planned:
        run.config.validate()
