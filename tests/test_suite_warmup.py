"""Suites with a shared warm-up stage and generated data (suite.py), and how tables show them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cocobench.checkpoints import checkpoint_fingerprint
from cocobench.errors import CocobenchError
from cocobench.suite import WARMUP_STAGE, plan_suite
from tests.conftest import one_line_error
from tests.helpers import invoke

FAST = "model: gpt2-tiny, epochs: 1, batch_size: 8, grad_accum: 1, max_new_tokens: 16, max_latent_stage: 1, epochs_per_stage: 1"


def write_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_warmup_is_planned_once_per_seed_before_that_seeds_runs(tmp_path):
    suite = write_suite(tmp_path, f"""
warmup: {{epochs: 3}}
defaults: {{task: prosqa, {FAST}}}
runs:
  - {{method: cot, seeds: [0, 1]}}
  - {{method: coconut, seeds: [0, 1]}}
  - {{method: no-cot, seeds: [1], warmup: false}}
""")
    _, out, planned = plan_suite(suite, tmp_path / "out")
    assert [p.name for p in planned] == [
        "prosqa-cot-warmup-seed0", "prosqa-cot-seed0", "prosqa-coconut-seed0",
        "prosqa-cot-warmup-seed1", "prosqa-cot-seed1", "prosqa-coconut-seed1", "prosqa-no-cot-seed1",
    ]
    by_name = {p.name: p for p in planned}
    warm0, warm1 = by_name["prosqa-cot-warmup-seed0"], by_name["prosqa-cot-warmup-seed1"]
    assert warm0.config.method == "cot" and warm0.config.epochs == 3 and warm0.config.seed == 0  # warmup over defaults
    assert warm0.config.suite_stage == WARMUP_STAGE and warm0.config.warmup is None
    assert by_name["prosqa-coconut-seed1"].warmup is warm1 and by_name["prosqa-cot-seed0"].warmup is warm0
    assert by_name["prosqa-no-cot-seed1"].warmup is None and by_name["prosqa-no-cot-seed1"].config.warmup is None
    # One identity for every seed (each seed's own checkpoint is recorded separately, as init_from).
    identities = {p.config.warmup for p in planned if p.warmup is not None}
    assert len(identities) == 1 and identities.pop().startswith("cot 3 epochs #")
    # The identity names the warm-up's settings: another lr is another warm start.
    other = write_suite(tmp_path, suite.read_text().replace("{epochs: 3}", "{epochs: 3, lr: 0.5}"))
    assert plan_suite(other, tmp_path / "out")[2][1].config.warmup != by_name["prosqa-cot-seed0"].config.warmup


@pytest.mark.parametrize("suite_name, run_name", [("s", "x/../../../escaped"), ("s", "/tmp/abs"), ("s", ".."), ("../up", "ok")])
def test_suite_and_run_names_are_one_directory(tmp_path, suite_name, run_name):
    suite = write_suite(tmp_path, f"name: '{suite_name}'\ndefaults: {{task: prosqa, {FAST}}}\nruns:\n  - {{method: cot, name: '{run_name}'}}\n")
    with pytest.raises(CocobenchError, match="must be one directory name"):
        plan_suite(suite)
    one_line_error(invoke("suite", suite, "--out", tmp_path / "out", "--quiet"), "must be one directory name")
    assert not (tmp_path / "out").exists()


def test_the_warmup_identity_names_the_datas_contents_not_its_path(tiny_prosqa, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_prosqa, copy)
    identities = []
    for data in (tiny_prosqa, copy):
        suite = write_suite(tmp_path, f"warmup: {{epochs: 2}}\ndefaults: {{data: '{data}', {FAST}}}\nruns:\n  - {{method: coconut}}\n")
        identities.append(plan_suite(suite, tmp_path / "out")[2][1].config.warmup)
    assert identities[0] == identities[1]
    (copy / "train.json").write_text(json.dumps(json.loads((copy / "train.json").read_text())[:-1]))
    assert plan_suite(suite, tmp_path / "out")[2][1].config.warmup != identities[0]


@pytest.mark.parametrize("warmup, run, message", [
    ("{epochs: 2}", "{method: cot, init_from: somewhere}", "add 'warmup: false'"),
    ("{epochs: 2, seed: 3}", "{method: cot}", "cannot set 'seed'"),
    ("[cot]", "{method: cot}", "'warmup' must be a mapping"),
    ("{epochs: 2}", "{method: coconut, model: llama-tiny}", "starts from the warmup's 'gpt2-tiny'"),
])  # fmt: skip
def test_bad_warmups_are_refused(tmp_path, warmup, run, message):
    suite = write_suite(tmp_path, f"warmup: {warmup}\ndefaults: {{task: prosqa}}\nruns:\n  - {run}\n")
    with pytest.raises(CocobenchError, match=message):
        plan_suite(suite)


@pytest.mark.slow
def test_suite_trains_its_warmup_once_and_starts_every_run_from_it(tiny_prosqa, tmp_path):
    suite = write_suite(tmp_path, f"""
warmup: {{epochs: 1}}
defaults: {{data: '{tiny_prosqa}', {FAST}}}
runs:
  - {{method: cot, seeds: [0]}}
  - {{method: coconut, seeds: [0]}}
""")
    out = tmp_path / "out"
    first = invoke("suite", suite, "--out", out, "--quiet", "--format", "json", "--only", "coconut")
    assert first.exit_code == 0, first.output
    name = tiny_prosqa.name
    assert sorted(p.name for p in out.iterdir()) == [f"{name}-coconut-seed0", f"{name}-cot-warmup-seed0"]  # --only brings its warm-up
    warm = out / f"{name}-cot-warmup-seed0"
    coconut = json.loads((out / f"{name}-coconut-seed0" / "results.json").read_text())
    assert coconut["config"]["init_from"] == str(warm / "checkpoints" / "best")
    assert coconut["options"]["init_from"] == checkpoint_fingerprint(warm / "checkpoints" / "best")
    assert coconut["options"]["warmup"].startswith("cot 1 epochs #")
    table = json.loads(first.stdout)
    assert [row["method"] for row in table["rows"]] == ["coconut"]  # the warm-up is not a row...
    assert table["warm_starts"][0]["identity"] == coconut["options"]["warmup"]  # ...it is the caption
    assert table["warm_starts"][0]["warmup"]["n"] == 1
    stamp = (warm / "results.json").stat().st_mtime_ns
    second = invoke("suite", suite, "--out", out, "--quiet", "--format", "markdown")
    assert second.exit_code == 0, second.output
    assert (warm / "results.json").stat().st_mtime_ns == stamp  # a finished warm-up is reused
    assert "warm start: " in second.stdout and "| cot |" in second.stdout and "| coconut |" in second.stdout


@pytest.mark.slow
def test_suite_generates_its_data_once_and_refuses_other_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, f"""
generate: {{task: prosqa, out: gen, train: 24, valid: 4, test: 4, min_nodes: 8, max_nodes: 8, max_hops: 3}}
defaults: {{data: gen, {FAST}}}
runs:
  - {{method: no-cot, seeds: [0]}}
""")
    result = invoke("suite", suite, "--out", "out", "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "gen" / "meta.json").read_text())
    assert meta["params"]["min_nodes"] == 8 and meta["counts"] == {"train": 24, "valid": 4, "test": 4}
    stamp = (tmp_path / "gen" / "train.json").stat().st_mtime_ns
    assert invoke("suite", suite, "--out", "out", "--quiet").exit_code == 0
    assert (tmp_path / "gen" / "train.json").stat().st_mtime_ns == stamp  # kept, not regenerated
    suite.write_text(suite.read_text().replace("max_hops: 3", "max_hops: 4"))
    one_line_error(invoke("suite", suite, "--out", "out", "--quiet"), "generated with other settings", "max_hops: 3 there, 4 here")
    suite.write_text(suite.read_text().replace("max_hops: 4", "max_hopz: 4"))
    one_line_error(invoke("suite", suite, "--out", "out", "--quiet"), "'max_hopz' is not an option of `cocobench gen prosqa`")


@pytest.mark.slow
def test_two_suite_processes_share_a_directory_and_one_warmup(tiny_prosqa, tmp_path):
    """Shards of one suite (`--only`) run at once: the warm-up both need is trained by one and waited for
    by the other, and each trains its own run from it."""
    import os
    import subprocess
    import sys

    suite = write_suite(tmp_path, f"""
warmup: {{epochs: 1}}
defaults: {{data: '{tiny_prosqa}', {FAST}}}
runs:
  - {{method: cot, seeds: [0]}}
  - {{method: no-cot, seeds: [0]}}
""")
    out = tmp_path / "out"
    name = tiny_prosqa.name
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    shards = [subprocess.Popen([sys.executable, "-m", "cocobench", "suite", str(suite), "--out", str(out), "--only", only, "--format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for only in (f"{name}-cot-seed0", "no-cot")]
    outputs = [shard.communicate(timeout=300) for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0], outputs
    warm = f"{name}-cot-warmup-seed0"
    trained_warmup = [err for _, err in outputs if f"[1/2] {warm}\n" in err]
    assert len(trained_warmup) == 1, outputs  # the other waited for it, or found it finished
    assert sorted(p.name for p in out.iterdir()) == sorted([warm, f"{name}-cot-seed0", f"{name}-no-cot-seed0"])
    starts = {json.loads((out / run / "results.json").read_text())["options"]["init_from"] for run in (f"{name}-cot-seed0", f"{name}-no-cot-seed0")}
    assert starts == {checkpoint_fingerprint(out / warm / "checkpoints" / "best")}
    assert not list(out.rglob(".cocobench.lock"))
