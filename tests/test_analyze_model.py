"""`cocobench analyze ksweep|probe|thoughts` on a tiny trained Coconut checkpoint, and `eval`'s default name."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import pytest
import torch

from cocobench.analysis.ksweep import parse_ks
from cocobench.errors import CocobenchError
from tests.conftest import one_line_error
from tests.helpers import FAST, invoke

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def coconut(tiny_run):
    """A tiny Coconut run (2 epochs, max_latent_stage 2): its directory."""
    return tiny_run("--method", "coconut", "--epochs", "2", *FAST)


def test_k_ranges_and_lists():
    assert parse_ks("0..6") == [0, 1, 2, 3, 4, 5, 6]
    assert parse_ks("0,1,3") == [0, 1, 3] and parse_ks("3,1,1") == [1, 3] and parse_ks("0..2,5") == [0, 1, 2, 5] and parse_ks("4") == [4]
    for bad, fragment in (("3..1", "runs backwards"), ("x", "not a number"), ("", "not a number"), ("-1", "not a number"), ("1..", "not a number"), ("99999", "at most")):
        with pytest.raises(CocobenchError, match=fragment):
            parse_ks(bad)


class LoadCounter:
    """Wraps checkpoints.load_run_checkpoint: counts loads; `says` makes the loaded model's LM head always predict one token."""

    def __init__(self, monkeypatch, says: int | None = None):
        import cocobench.checkpoints

        self.loads, self.says = 0, says
        self.real = cocobench.checkpoints.load_run_checkpoint
        monkeypatch.setattr(cocobench.checkpoints, "load_run_checkpoint", self)

    def __call__(self, path):
        self.loads += 1
        model, tokenizer, metadata, classifier = self.real(path)
        if self.says is not None:
            token = self.says if self.says >= 0 else tokenizer.eos_token_id
            head = torch.nn.Linear(model.config.n_embd, len(tokenizer))
            with torch.no_grad():
                head.weight.zero_()
                head.bias.zero_()
                head.bias[token] = 1.0
            model.set_output_embeddings(head)
        return model, tokenizer, metadata, classifier


def fake_categories(monkeypatch):
    """A stand-in for cocobench.analysis.paths (helper A's module): shares by correctness; records its calls."""
    calls = []

    def category_shares(examples, samples, k=0, **options):
        calls.append((len(examples), len(samples), k, options))
        right = sum(s["correct"] for s in samples) / len(samples)
        return {"Correct Label": right, "Incorrect Label": 1 - right}

    module = types.SimpleNamespace(category_shares=category_shares, check_completion=lambda completion: completion, CATEGORIES=("Correct Label", "Incorrect Label"))
    monkeypatch.setitem(sys.modules, "cocobench.analysis.paths", module)
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("says, language", [(-1, 0), (9, 5)], ids=["eos-at-once", "never-eos"])
def test_ksweep_forces_eot_after_exactly_k_thoughts_with_one_load(coconut, tiny_prosqa, tmp_path, monkeypatch, says, language):
    """A model that says EOS at once costs 1 + k passes and counts k tokens (the thoughts); one that never
    says EOS (5 new tokens) costs k + 5 passes for k + 5 tokens. One load for the whole sweep."""
    loads = LoadCounter(monkeypatch, says=says)
    calls = fake_categories(monkeypatch)
    out = tmp_path / "sweep"
    result = invoke("analyze", "ksweep", coconut / "checkpoints" / "best", "--data", tiny_prosqa / "test.json", "--k", "0..3",
                    "--max-new-tokens", "5", "--out", out, "--reference", coconut, "--completion", "exact", "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    assert loads.loads == 1
    report = json.loads(result.stdout)
    assert report == json.loads((out / "ksweep.json").read_text())
    assert [row["k"] for row in report["rows"]] == [0, 1, 2, 3]
    for row in report["rows"]:
        k = row["k"]
        samples = json.loads((out / f"k{k}" / "results.json").read_text())["samples"]
        assert len(samples) == 8 and all(s["num_thoughts"] == k for s in samples)
        assert all(s["generated_tokens"] == k + language and s["forward_passes"] == 1 + k + max(language - 1, 0) for s in samples)
        assert row["generated_tokens_mean"] == k + language and row["categories"] == {"Correct Label": 0.0, "Incorrect Label": 1.0}
    assert [call[2] for call in calls] == [0, 1, 2, 3, 0] and all(call[3] == {"completion": "exact"} for call in calls)
    (reference,) = report["references"]
    assert reference["method"] == "coconut" and reference["k"] is None and reference["categories"] is not None
    assert report["categories"] == ["Correct Label", "Incorrect Label"]
    assert (out / "ksweep.csv").read_text().splitlines()[0].startswith("run,k,accuracy,correct,total")
    if importlib.util.find_spec("matplotlib"):
        assert (out / "ksweep.png").read_bytes().startswith(PNG)


@pytest.mark.slow
def test_ksweep_rows_equal_eval_at_that_k_and_work_without_matplotlib(coconut, tiny_prosqa, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "cocobench.analysis.paths", None)  # no categories either
    checkpoint = coconut / "checkpoints" / "best"
    sweep = invoke("analyze", "ksweep", checkpoint, "--data", tiny_prosqa, "--k", "1", "--out", tmp_path / "sweep", "--format", "csv")
    assert sweep.exit_code == 0, sweep.output
    assert "wrote no ksweep.png" in sweep.stderr and "categories skipped" in sweep.stderr
    assert sweep.stdout.splitlines()[0] == "run,k,accuracy,correct,total,generated_tokens_mean,forward_passes_mean"
    assert not (tmp_path / "sweep" / "ksweep.png").exists() and (tmp_path / "sweep" / "ksweep.json").is_file()
    assert invoke("eval", "--checkpoint", checkpoint, "--data", tiny_prosqa, "--k", "1", "--out", tmp_path / "eval", "-q").exit_code == 0
    swept, evaluated = (json.loads(p.read_text())["samples"] for p in (tmp_path / "sweep" / "k1" / "results.json", tmp_path / "eval" / "results.json"))
    assert [s["text"] for s in swept] == [s["text"] for s in evaluated]


@pytest.mark.slow
def test_eval_default_name_carries_k(coconut, tiny_prosqa, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in ("1", "2"):
        assert invoke("eval", "--checkpoint", coconut / "checkpoints" / "best", "--data", tiny_prosqa / "test.json", "--k", k, "-q").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["eval-run-test-k1", "eval-run-test-k2"]


@pytest.mark.slow
def test_thoughts_are_decoded_through_the_models_own_head(coconut, tiny_prosqa):
    """As many thoughts as asked (and the run's 2 by default); the top token of each is the LM head's
    argmax on the training forward's hidden state before that latent."""
    from cocobench.checkpoints import load_run_checkpoint
    from cocobench.config import resolve_config
    from cocobench.engine import latent_forward
    from cocobench.examples import load_examples
    from cocobench.methods import get_method
    from cocobench.tokenizer import token_ids

    for k, expected in ((None, 2), (3, 3), (0, 0)):
        args = ["--k", k] if k is not None else []
        result = invoke("analyze", "thoughts", coconut / "checkpoints" / "best", "--data", tiny_prosqa, "--index", "2", "--top", "3", "--format", "json", *args)
        assert result.exit_code == 0, result.output
        decoded = json.loads(result.stdout)
        assert decoded["num_thoughts"] == expected == len(decoded["thoughts"])

    model, tokenizer, metadata, _ = load_run_checkpoint(coconut / "checkpoints" / "best")
    method = get_method("coconut", resolve_config(None, {}, base=metadata["config"]), tokenizer)
    prompt = method.inference_prompt(load_examples(tiny_prosqa / "test.json")[2], k=3)
    with torch.no_grad():
        hidden = latent_forward(model, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long), latent_id=token_ids(tokenizer).latent).hidden[0]
        slots = [p for p, t in enumerate(prompt) if t == token_ids(tokenizer).latent]
        expected_top = model.get_output_embeddings()(hidden[[p - 1 for p in slots]]).argmax(-1).tolist()
    decoded = json.loads(invoke("analyze", "thoughts", coconut / "checkpoints" / "best", "--data", tiny_prosqa, "--index", "2", "--k", "3", "--top", "3", "--format", "json").stdout)
    assert [t["top"][0]["id"] for t in decoded["thoughts"]] == expected_top
    assert all(len(t["top"]) == 3 and 1 >= t["top"][0]["probability"] >= t["top"][1]["probability"] >= t["top"][2]["probability"] > 0 for t in decoded["thoughts"])
    rich = invoke("analyze", "thoughts", coconut / "checkpoints" / "best", "--data", tiny_prosqa, "--index", "2")
    assert rich.exit_code == 0 and "2 continuous thoughts through the LM head" in rich.stdout


@pytest.mark.slow
def test_probe_end_to_end(coconut, tiny_prosqa, tmp_path):
    out = tmp_path / "probe"
    result = invoke("analyze", "probe", coconut / "checkpoints" / "best", "--data", tiny_prosqa, "--out", out, "--show", "1", "--height", "longest", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "probe.json").read_text())
    assert report["ks"] == [1, 2] and report["height"] == "longest" and len(report["records"]) == 8
    assert all(0 < node["value"] < 1 for record in report["records"] for nodes in record["frontiers"].values() for node in nodes)
    assert "latent value probe" in result.stdout and "value" in result.stdout.split("latent value probe")[1]
    if importlib.util.find_spec("matplotlib"):
        assert (out / "parallelism.png").read_bytes().startswith(PNG) and (out / "value_height.png").read_bytes().startswith(PNG)
    summary = json.loads(invoke("analyze", "probe", coconut / "checkpoints" / "best", "--data", tiny_prosqa, "--k", "1", "--out", tmp_path / "p2",
                                "--show", "0", "--format", "json", "-q").stdout)
    assert "records" not in summary and summary["case_study"]["idx"] == 0 and [row["k"] for row in summary["summary"]] == [1]


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(coconut, tiny_prosqa, tmp_path):
    best = coconut / "checkpoints" / "best"
    not_prosqa = tmp_path / "plain.json"
    not_prosqa.write_text(json.dumps([{"question": "1+1?", "steps": [], "answer": "2"}]))
    cases = [
        (("analyze", "ksweep", tmp_path / "missing", "--data", tiny_prosqa), ("checkpoint", "does not exist")),
        (("analyze", "ksweep", best, "--data", tiny_prosqa, "--k", "5..2"), ("--k range '5..2' runs backwards",)),
        (("analyze", "ksweep", best, "--data", tiny_prosqa, "--k", "zero"), ("--k 'zero' is not a number of thoughts",)),
        (("analyze", "ksweep", best, "--data", tiny_prosqa, "--k", "0..1", "--reference", tmp_path / "nowhere"), ("does not exist",)),
        (("analyze", "ksweep", best, "--data", tiny_prosqa, "--k", "2000"), ("at most 1000",)),
        (("analyze", "probe", best, "--data", not_prosqa), ("is not ProsQA",)),
        (("analyze", "probe", tmp_path / "missing", "--data", tiny_prosqa), ("does not exist",)),
        (("analyze", "probe", best, "--data", tiny_prosqa, "--k", "0,1"), ("--k 0 has no frontier",)),
        (("analyze", "probe", best, "--data", tiny_prosqa, "--height", "tallest"), ("--height must be one of shortest, longest",)),
        (("analyze", "probe", best, "--data", tiny_prosqa, "--show", "99", "--out", tmp_path / "p"), ("--show 99 is outside",)),
        (("analyze", "thoughts", best, "--data", tiny_prosqa, "--index", "8"), ("--index 8 is outside",)),
        (("analyze", "thoughts", best, "--data", tiny_prosqa, "--index", "0", "--top", "0"), ("--top must be a positive",)),
        (("analyze", "thoughts", best, "--data", tiny_prosqa, "--index", "0", "--format", "csv"), ("cannot print --format csv",)),
    ]
    for args, fragments in cases:
        one_line_error(invoke(*args), *fragments)
    assert not (tmp_path / "missing").exists()
