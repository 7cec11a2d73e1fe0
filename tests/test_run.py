"""End to end: `cocobench run`/`eval`/`suite` on tiny data with a tiny model (seconds each)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import one_line_error, shared_file
from tests.helpers import FAST, invoke

METHODS = ["cot", "no-cot", "icot", "pause", "coconut", "coconut-no-curriculum", "coconut-no-thought", "pause-as-thought", "pause-multipass"]


def weights(run_dir, which="last"):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "checkpoints" / which / "model.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_end_to_end(method, tiny_prosqa, tmp_path):
    out = tmp_path / method
    result = invoke("run", "--data", tiny_prosqa, "--method", method, "--epochs", "2", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == 2 and results["method"] == method and results["task"] == "prosqa"
    metrics = results["metrics"]
    assert metrics["total"] == 8 == len(results["samples"])
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["correct"] == sum(s["correct"] for s in results["samples"])
    assert len(metrics["epochs"]) == 2 and all("val_accuracy" in e and "train_loss" in e for e in metrics["epochs"])
    sample = results["samples"][0]
    assert set(sample) >= {"idx", "prediction", "gold", "correct", "generated_tokens", "forward_passes", "text"}
    thoughts = {"coconut": 2, "coconut-no-curriculum": 2, "pause-multipass": 2}.get(method, 0)
    assert all(s["num_thoughts"] == thoughts for s in results["samples"])
    # A thought counts as one generated token; the pass count covers prefill, thoughts and tokens.
    assert all(s["generated_tokens"] >= thoughts and s["forward_passes"] >= 1 for s in results["samples"])
    assert (out / "config.yaml").is_file() and (out / "checkpoints" / "best" / "cocobench.json").is_file()


@pytest.mark.slow
def test_same_seed_same_results(tiny_prosqa, tmp_path):
    for name in ("a", "b"):
        assert invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "2", "--out", tmp_path / name, *FAST).exit_code == 0
    a, b = (json.loads((tmp_path / n / "results.json").read_text()) for n in ("a", "b"))
    assert a["samples"] == b["samples"] and a["metrics"]["epochs"][-1]["train_loss"] == b["metrics"]["epochs"][-1]["train_loss"]
    for name, tensor in weights(tmp_path / "a").items():
        assert torch.equal(tensor, weights(tmp_path / "b")[name])


@pytest.mark.slow
def test_a_run_from_the_tokenized_cache_is_the_run_without_it(tiny_prosqa, tmp_path, monkeypatch):
    from cocobench import tokenized

    assert invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "1", "--out", tmp_path / "plain", *FAST).exit_code == 0
    monkeypatch.setattr(tokenized, "MIN_CACHED_EXAMPLES", 1)  # tiny data through the cache, as large data goes
    monkeypatch.setenv(tokenized.CACHE_ENV, str(tmp_path / "cache"))
    for name in ("first", "second"):  # the first writes the cache, the second reads it
        assert invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "1", "--out", tmp_path / name, *FAST).exit_code == 0
    assert len(list((tmp_path / "cache").glob("segments-*.arrow"))) == 1 and len(list((tmp_path / "cache").glob("vocabulary-*.json"))) == 1
    plain, first, second = (json.loads((tmp_path / n / "results.json").read_text()) for n in ("plain", "first", "second"))
    assert plain["samples"] == first["samples"] == second["samples"]
    assert plain["metrics"]["epochs"][-1]["train_loss"] == first["metrics"]["epochs"][-1]["train_loss"] == second["metrics"]["epochs"][-1]["train_loss"]
    for name, tensor in weights(tmp_path / "plain").items():
        assert torch.equal(tensor, weights(tmp_path / "second")[name])


@pytest.mark.slow
def test_the_length_check_is_remembered_for_the_data_and_settings_that_passed_it(tiny_prosqa, tmp_path, monkeypatch):
    from cocobench import lengths, tokenized

    monkeypatch.setattr(tokenized, "MIN_CACHED_EXAMPLES", 1)
    monkeypatch.setenv(tokenized.CACHE_ENV, str(tmp_path / "cache"))
    args = ["run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", *FAST]
    assert invoke(*args, "--out", tmp_path / "first").exit_code == 0
    assert len(list((tmp_path / "cache").glob("lengths-fit-*"))) == 1

    def measured(*a, **kw):
        raise AssertionError("measured the lengths again")

    with monkeypatch.context() as patched:  # the same data and settings (another --out, seed, eval batch): not measured
        patched.setattr(lengths, "_train_lengths", measured)
        result = invoke(*args, "--out", tmp_path / "second", "--seed", "3", "--eval-batch-size", "4")
        assert result.exit_code == 0, result.output
        assert isinstance(invoke(*args, "--out", tmp_path / "third", "--max-new-tokens", "24").exception, AssertionError)  # another setting: measured
    for _ in range(2):  # a check that fails is never remembered: the same one-line error every time
        one_line_error(invoke(*args, "--out", tmp_path / "long", "--max-new-tokens", "100000"), "1024 positions", "lower --max-new-tokens")
    assert len(list((tmp_path / "cache").glob("lengths-fit-*"))) == 1  # the first run's (the third stopped measuring)


@pytest.mark.slow
def test_a_changed_data_file_is_tokenized_and_checked_anew(tiny_prosqa, tmp_path, monkeypatch):
    """The caches are named by the bytes of the split files: an edited file is read as it now is."""
    import shutil

    from cocobench import tokenized

    data = tmp_path / "data"
    shutil.copytree(tiny_prosqa, data)
    args = ["run", "--data", data, "--method", "cot", "--epochs", "1", *FAST]
    with monkeypatch.context() as cached:
        cached.setattr(tokenized, "MIN_CACHED_EXAMPLES", 1)
        cached.setenv(tokenized.CACHE_ENV, str(tmp_path / "cache"))
        assert invoke(*args, "--out", tmp_path / "before").exit_code == 0
        train = json.loads((data / "train.json").read_text())
        train[0]["answer"], train[1]["steps"] = train[1]["answer"], train[1]["steps"][:1]  # other answer and chain
        (data / "train.json").write_text(json.dumps(train))
        assert invoke(*args, "--out", tmp_path / "cached").exit_code == 0
        assert len(list((tmp_path / "cache").glob("segments-*.arrow"))) == 2 and len(list((tmp_path / "cache").glob("lengths-fit-*"))) == 2
    assert invoke(*args, "--out", tmp_path / "plain").exit_code == 0  # the edited data without any cache
    plain, cached_run = (json.loads((tmp_path / n / "results.json").read_text()) for n in ("plain", "cached"))
    assert plain["samples"] == cached_run["samples"] and plain["data"] == cached_run["data"]
    assert plain["metrics"]["epochs"][-1]["train_loss"] == cached_run["metrics"]["epochs"][-1]["train_loss"]
    for name, tensor in weights(tmp_path / "plain").items():
        assert torch.equal(tensor, weights(tmp_path / "cached")[name])


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(tiny_prosqa, tmp_path, monkeypatch):
    """Stages 0, 0, 1 with some examples at a random stage: cut after epoch 2's training steps, the
    resumed run trains epoch 2 on the restored AdamW state (no stage change there, so no reset hides
    a lost optimizer state) and the restored per-epoch draws, then resets at the stage change."""
    args = ["run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "3", *FAST, "--epochs-per-stage", "2", "--uniform-prob", "0.5"]
    assert invoke(*args, "--out", tmp_path / "full").exit_code == 0

    import cocobench.train

    original, calls = cocobench.train.evaluate, []

    def interrupt_at_second_validation(*a, **kw):  # Ctrl-C after epoch 2's training steps, before its checkpoint
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*a, **kw)

    monkeypatch.setattr(cocobench.train, "evaluate", interrupt_at_second_validation)
    interrupted = invoke(*args, "--out", tmp_path / "cut")
    assert interrupted.exit_code == 130 and not (tmp_path / "cut" / "results.json").exists()
    assert interrupted.stderr.strip() == f"interrupted: resume with cocobench run --out {tmp_path / 'cut'} --resume"
    monkeypatch.setattr(cocobench.train, "evaluate", original)
    assert invoke(*args, "--out", tmp_path / "cut").exit_code == 2  # refuses to overwrite without --resume
    # As a SIGKILL between atomic_directory's two renames leaves it: `last` set aside, a half-written copy.
    checkpoints = tmp_path / "cut" / "checkpoints"
    (checkpoints / "last").rename(checkpoints / ".last.old")
    (checkpoints / ".last.x1y2.tmp").mkdir()
    resumed = invoke("run", "--out", tmp_path / "cut", "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    full, cut = weights(tmp_path / "full"), weights(tmp_path / "cut")
    assert full.keys() == cut.keys() and all(torch.equal(full[k], cut[k]) for k in full)
    assert json.loads((tmp_path / "full" / "results.json").read_text())["samples"] == json.loads((tmp_path / "cut" / "results.json").read_text())["samples"]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best", "last"]  # the swap finished, the leftover gone


@pytest.mark.slow
def test_eval_reproduces_the_runs_test_results(tiny_prosqa, tmp_path):
    run_dir = tmp_path / "run"
    assert invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "2", "--out", run_dir, *FAST).exit_code == 0
    result = invoke("eval", "--checkpoint", run_dir / "checkpoints" / "best", "--data", tiny_prosqa / "test.json", "--out", tmp_path / "eval", "--quiet")
    assert result.exit_code == 0, result.output
    run, again = (json.loads((d / "results.json").read_text()) for d in (run_dir, tmp_path / "eval"))
    assert [s["text"] for s in run["samples"]] == [s["text"] for s in again["samples"]]
    assert again["method"] == "coconut" and again["options"]["max_latent_stage"] == 2
    fewer = invoke("eval", "--checkpoint", run_dir / "checkpoints" / "best", "--data", tiny_prosqa, "--k", "1", "--out", tmp_path / "k1", "--quiet")
    assert fewer.exit_code == 0
    assert all(s["num_thoughts"] == 1 for s in json.loads((tmp_path / "k1" / "results.json").read_text())["samples"])
    more = invoke("eval", "--checkpoint", run_dir / "checkpoints" / "best", "--data", tiny_prosqa, "--k", "5", "--out", tmp_path / "k5")
    assert more.exit_code == 0, more.output
    assert "note: --k 5 thoughts at inference; the model was trained with at most 2" in more.stderr.replace("\n", " ")
    assert all(s["num_thoughts"] == 5 for s in json.loads((tmp_path / "k5" / "results.json").read_text())["samples"])
    too_many = invoke("eval", "--checkpoint", run_dir / "checkpoints" / "best", "--data", tiny_prosqa, "--k", "1000", "--out", tmp_path / "k1000")
    line = one_line_error(too_many, "--k 1000 does not fit the model's context of 1024 positions", "--max-new-tokens 20", "use --k")
    assert "max-latent-stage" not in line and not (tmp_path / "k1000").exists()


@pytest.mark.slow
def test_eval_on_the_official_prosqa_test_file(tiny_prosqa, tmp_path):
    official = shared_file("data", "prosqa", "prosqa_test.json")
    run_dir = tmp_path / "run"
    assert invoke("run", "--data", tiny_prosqa, "--method", "no-cot", "--epochs", "1", "--out", run_dir, *FAST).exit_code == 0
    result = invoke("eval", "--checkpoint", run_dir / "checkpoints" / "best", "--data", official, "--limit-eval", "16", "--out", tmp_path / "eval", "--quiet", "--json")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["task"] == "prosqa" and results["metrics"]["total"] == 16
    assert json.loads(result.stdout)["total"] == 16


@pytest.mark.slow
def test_stop_classifier_is_trained_and_used(tiny_prosqa, tmp_path):
    out = tmp_path / "clf"
    result = invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "3", "--latent-stop", "classifier",
                    "--no-pad-latent-to-max", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"]["classifier_accuracy"] is not None
    assert all(0 <= s["num_thoughts"] <= 2 for s in results["samples"])
    assert (out / "checkpoints" / "best" / "stop_classifier.pt").is_file()


@pytest.mark.slow
def test_suite_runs_skips_and_prints_the_table(tiny_prosqa, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: tiny\ndefaults: {{data: '{tiny_prosqa}', model: gpt2-tiny, epochs: 1, batch_size: 8, grad_accum: 1, max_new_tokens: 16,"
        f" max_latent_stage: 1, epochs_per_stage: 1}}\nruns:\n  - {{method: cot, seeds: [0, 1]}}\n  - {{method: coconut, seeds: [0]}}\n"
    )
    first = invoke("suite", suite, "--out", tmp_path / "out", "--quiet", "--format", "json")
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{tiny_prosqa.name}-coconut-seed0", f"{tiny_prosqa.name}-cot-seed0", f"{tiny_prosqa.name}-cot-seed1"]
    stamp = (tmp_path / "out" / f"{tiny_prosqa.name}-cot-seed0" / "results.json").stat().st_mtime_ns
    second = invoke("suite", suite, "--out", tmp_path / "out", "--quiet", "--format", "markdown")
    assert second.exit_code == 0 and "coconut" in second.stdout
    assert (tmp_path / "out" / f"{tiny_prosqa.name}-cot-seed0" / "results.json").stat().st_mtime_ns == stamp  # skipped


@pytest.mark.slow
def test_an_interrupted_suite_resumes_its_run_where_it_stopped(tiny_prosqa, tmp_path, monkeypatch):
    """Ctrl-C in a suite's run after its first epoch's checkpoint: the suite run again resumes that run
    (trains only the epoch left, keeps the start.json of its start) and ends with the weights and
    test samples of a suite nobody stopped."""
    import cocobench.train

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"name: tiny\ndefaults: {{data: '{tiny_prosqa}', model: gpt2-tiny, epochs: 2, batch_size: 8, grad_accum: 1, max_new_tokens: 16,"
        f" max_latent_stage: 1, epochs_per_stage: 1, lr: 0.001}}\nruns:\n  - {{method: coconut, seeds: [0]}}\n"
    )
    assert invoke("suite", suite, "--out", tmp_path / "whole", "--quiet").exit_code == 0
    original, validated = cocobench.train.evaluate, []

    def validate(*args, interrupt_at=None, **kwargs):
        validated.append(1)
        if len(validated) == interrupt_at:  # Ctrl-C after epoch 1's training steps, before its checkpoint
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(cocobench.train, "evaluate", lambda *a, **kw: validate(*a, interrupt_at=2, **kw))
    assert invoke("suite", suite, "--out", tmp_path / "cut", "--quiet").exit_code == 130
    run = tmp_path / "cut" / f"{tiny_prosqa.name}-coconut-seed0"
    start = (run / "start.json").read_bytes()
    assert not (run / "results.json").exists() and (run / "checkpoints" / "last").is_dir()
    validated.clear()
    monkeypatch.setattr(cocobench.train, "evaluate", validate)
    resumed = invoke("suite", suite, "--out", tmp_path / "cut", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert len(validated) == 1, f"the resumed suite trained {len(validated)} epochs, not the one left"
    assert (run / "start.json").read_bytes() == start  # the same run, continued, not a new one
    whole, cut = weights(tmp_path / "whole" / run.name), weights(run)
    assert whole.keys() == cut.keys() and all(torch.equal(whole[k], cut[k]) for k in whole)
    assert json.loads((run / "results.json").read_text())["samples"] == json.loads((tmp_path / "whole" / run.name / "results.json").read_text())["samples"]


@pytest.mark.slow
def test_a_suite_reuses_only_results_of_its_own_settings(tiny_prosqa, tmp_path):
    """A finished run is skipped only when it records the planned settings: a suite changed since (or a run
    copied in by hand) stops in one line naming the difference and --overwrite, before any training."""
    import shutil

    suite = tmp_path / "suite.yaml"
    text = (f"name: tiny\ndefaults: {{data: '{tiny_prosqa}', model: gpt2-tiny, epochs: 1, batch_size: 8, grad_accum: 1, max_new_tokens: 16}}\n"
            "runs:\n  - {method: cot, seeds: [0]}\n  - {method: no-cot, seeds: [0]}\n")
    suite.write_text(text)
    out = tmp_path / "out"
    assert invoke("suite", suite, "--out", out, "--quiet").exit_code == 0
    cot, no_cot = out / f"{tiny_prosqa.name}-cot-seed0", out / f"{tiny_prosqa.name}-no-cot-seed0"
    stamp = (cot / "results.json").stat().st_mtime_ns
    suite.write_text(text.replace("epochs: 1", "epochs: 2"))
    one_line_error(invoke("suite", suite, "--out", out, "--quiet"), str(cot), "epochs: 1 there, 2 here", "--overwrite")
    assert (cot / "results.json").stat().st_mtime_ns == stamp
    suite.write_text(text)
    shutil.rmtree(no_cot)
    shutil.copytree(cot, no_cot)  # another run's results where the suite's no-cot run belongs
    one_line_error(invoke("suite", suite, "--out", out, "--quiet"), "method: 'cot' there, 'no-cot' here")
    again = invoke("suite", suite, "--out", out, "--quiet", "--overwrite", "--only", "no-cot")
    assert again.exit_code == 0, again.output
    assert json.loads((no_cot / "results.json").read_text())["method"] == "no-cot"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "cocnut"], "did you mean 'coconut'"),
        (["--method", "coconut", "--c", "0"], "--c must be at least 1"),
        (["--method", "coconut", "--k", "-1"], "--k must be 0 or more thoughts"),
        (["--method", "coconut", "--k", "2000"], "--k 2000 does not fit the model's context of 1024 positions"),
        (["--method", "cot", "--reset-optimizer", "often"], "--reset-optimizer"),
    ],
)
def test_run_bad_input_is_one_line_exit_2(args, message, tiny_prosqa, tmp_path):
    result = invoke("run", "--data", tiny_prosqa, "--out", tmp_path / "x", "--quiet", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # rejected before any work


def test_run_refuses_a_task_the_data_is_not(tiny_prosqa, tmp_path):
    one_line_error(invoke("run", "--data", tiny_prosqa, "--task", "prontoqa", "--method", "cot", "--out", tmp_path / "x", *FAST),
                   "holds prosqa data, not prontoqa")
    assert not (tmp_path / "x").exists()


def test_run_data_errors(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.json").write_text("[]")
    result = invoke("run", "--data", tmp_path / "d", "--method", "cot", "--quiet")
    assert result.exit_code == 2 and "no test split" in result.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text("method: cot\nlearnin-rate: 1\n")
    result = invoke("run", "--task", "prosqa", "--config", cfg, "--quiet")
    assert result.exit_code == 2 and "unknown key 'learnin-rate'" in result.output


@pytest.mark.slow
def test_eval_of_a_checkpoint_without_cocobench_json_says_how_it_is_taken(tiny_prosqa, tmp_path):
    import shutil

    out = tmp_path / "run"
    assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--limit-train", "8", "--limit-eval", "2", "--out", out, *FAST).exit_code == 0
    plain = tmp_path / "plain"
    shutil.copytree(out / "checkpoints" / "best", plain)
    (plain / "cocobench.json").unlink()
    result = invoke("eval", "--checkpoint", plain, "--data", tiny_prosqa / "test.json", "--out", tmp_path / "eval", "--quiet")
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "has no cocobench.json" in note and "evaluated as a CoT model" in note


def test_eval_rejects_a_directory_that_is_not_a_model(tiny_prosqa, tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("eval", "--checkpoint", tmp_path / "empty", "--data", tiny_prosqa, "--quiet")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    result = invoke("eval", "--checkpoint", tmp_path / "missing", "--data", tiny_prosqa, "--quiet")
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.slow
def test_init_from_starts_from_the_checkpoint_and_is_part_of_the_runs_identity(tiny_prosqa, tmp_path):
    """--init-from loads the checkpoint's weights, and its fingerprint goes into the results' options, so
    that `compare` never pairs (and `table` never averages) runs that started from different weights."""
    from cocobench.checkpoints import checkpoint_fingerprint

    starts = []
    for seed in (0, 1):
        out = tmp_path / f"cot-seed{seed}"
        assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--seed", seed, "--out", out, *FAST).exit_code == 0
        assert "init_from" not in json.loads((out / "results.json").read_text())["options"]  # from scratch: options as before
        starts.append(out / "checkpoints" / "best")
    for name, start in zip(("x", "y"), starts):  # the same experiment in two folders, from two different starts
        out = tmp_path / name / "coconut"
        result = invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--epochs", "1", "--init-from", start, "--out", out, *FAST[:-1], "--lr", "1e-12", "--quiet")
        assert result.exit_code == 0, result.output
        assert json.loads((out / "results.json").read_text())["options"]["init_from"] == checkpoint_fingerprint(start)
        for key, tensor in weights(out, "last").items():  # lr 1e-12: still the starting weights
            assert torch.allclose(tensor, weights(start.parent.parent, "best")[key], atol=1e-6), key
    result = invoke("compare", tmp_path / "x", tmp_path / "y")
    assert result.exit_code == 1 and "options differ" in result.stdout and "init_from" in result.stdout


@pytest.mark.slow
def test_init_from_must_be_the_runs_model_and_read_its_data(tiny_prosqa, tmp_path):
    """A Llama checkpoint is not recorded as gpt2-tiny, and a checkpoint whose tokenizer knows other data's
    words is not trained on <unk>: both refused in one line before anything is written."""
    small = ["--epochs", "1", "--limit-train", "8", "--limit-eval", "2", *FAST]
    llama = tmp_path / "llama"
    assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--out", llama, *small, "--model", "llama-tiny").exit_code == 0
    start = llama / "checkpoints" / "last"
    one_line_error(invoke("run", "--data", tiny_prosqa, "--method", "cot", "--init-from", start, "--out", tmp_path / "run", *small),
                   "holds 'llama-tiny', not --model gpt2-tiny", "--model llama-tiny")
    assert not (tmp_path / "run").exists()
    prontoqa = tmp_path / "prontoqa"
    assert invoke("gen", "prontoqa", "--out", prontoqa, "--train", "8", "--valid", "2", "--test", "2", "--quiet").exit_code == 0
    other = tmp_path / "other"
    assert invoke("run", "--data", prontoqa, "--method", "cot", "--out", other, *small).exit_code == 0
    one_line_error(invoke("run", "--data", tiny_prosqa, "--method", "cot", "--init-from", other / "checkpoints" / "last", "--out", tmp_path / "run", *small),
                   "unknown to the tokenizer", "--init-from")
    assert not (tmp_path / "run").exists()


def test_init_from_a_missing_checkpoint_is_one_line_exit_2(tiny_prosqa, tmp_path):
    result = invoke("run", "--data", tiny_prosqa, "--method", "coconut", "--init-from", tmp_path / "nowhere", "--out", tmp_path / "run", "--quiet")
    one_line_error(result, "--init-from", "does not exist")
    assert not (tmp_path / "run").exists()  # nothing is left behind


@pytest.mark.slow
def test_a_directory_in_use_is_refused_by_run_and_eval_and_left_alone_by_suite(tiny_prosqa, tmp_path):
    """Another live process's lock: `run` and `eval` each stop with one line naming it; `suite` leaves
    a run another process holds to it (suites may share a directory) and says so."""
    from cocobench.io import LOCK_FILE
    from tests.conftest import held_by_another_process

    assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--out", tmp_path / "trained", *FAST).exit_code == 0
    assert not (tmp_path / "trained" / LOCK_FILE).exists()  # released at the end
    held_run = tmp_path / "suite" / f"{tiny_prosqa.name}-cot-seed0"
    with held_by_another_process(tmp_path / "run") as other, held_by_another_process(tmp_path / "eval") as other_eval, \
            held_by_another_process(held_run) as other_suite:
        result = invoke("run", "--data", tiny_prosqa, "--method", "cot", "--out", tmp_path / "run", *FAST)
        one_line_error(result, f"'{tmp_path / 'run'}' is in use by cocobench (pid {other.pid})")
        result = invoke("eval", "--checkpoint", tmp_path / "trained" / "checkpoints" / "best", "--data", tiny_prosqa, "--out", tmp_path / "eval", "--quiet")
        one_line_error(result, f"'{tmp_path / 'eval'}' is in use by cocobench (pid {other_eval.pid})")
        suite = tmp_path / "suite.yaml"
        suite.write_text(f"name: tiny\ndefaults: {{data: '{tiny_prosqa}', epochs: 1}}\nruns:\n  - {{method: cot, seeds: [0]}}\n")
        result = invoke("suite", suite, "--out", tmp_path / "suite")
        assert result.exit_code == 0 and f"another process (pid {other_suite.pid}) is running it, skipped" in result.output, result.output
        assert [p.name for p in held_run.iterdir()] == [LOCK_FILE]  # untouched
    assert not held_run.exists()  # the other process made it for its lock and removed it again


@pytest.mark.slow
def test_results_record_provenance_and_the_accuracys_standard_error(tiny_prosqa, tmp_path, monkeypatch):
    """Schema 2: the source's git commit (a checkout here) and dirtiness, the start time (UTC), torch's
    thread count and sqrt(p(1-p)/n); none of them in `options`, so runs still pair."""
    import math
    import subprocess
    from datetime import datetime
    from pathlib import Path

    import cocobench.results

    out = tmp_path / "run"
    before = datetime.now().astimezone()
    assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--out", out, *FAST).exit_code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["schema_version"] == 2 and results["torch_threads"] == torch.get_num_threads()
    source = Path(cocobench.results.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", source, "rev-parse", "HEAD"], capture_output=True, text=True)
    assert results["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert isinstance(results["git_dirty"], bool) or results["git_commit"] is None
    started = datetime.fromisoformat(results["started_at"].replace("Z", "+00:00"))
    assert results["started_at"].endswith("Z") and abs((started - before).total_seconds()) < 600
    m = results["metrics"]
    assert m["accuracy_stderr"] == pytest.approx(math.sqrt(m["accuracy"] * (1 - m["accuracy"]) / m["total"]))
    assert not {"git_commit", "git_dirty", "started_at", "torch_threads"} & set(results["options"])

    def no_git(*a, **kw):
        raise FileNotFoundError("git")

    monkeypatch.setattr(cocobench.results.subprocess, "run", no_git)  # git missing: recorded as unknown, never a failure
    assert cocobench.results.git_state() == {"git_commit": None, "git_dirty": None}


@pytest.mark.slow
def test_resume_refuses_changes_to_what_defines_the_result(tiny_prosqa, tmp_path):
    """A resumed run is the run it continues: its saved config.yaml is loaded and a changed result-defining
    setting (options, seed, method, precision, the data's contents) is refused in one line; an
    evaluation or output setting may change and is recorded."""
    import shutil

    import yaml

    data = tmp_path / "data"
    shutil.copytree(tiny_prosqa, data)
    out = tmp_path / "run"
    assert invoke("run", "--data", data, "--method", "cot", "--epochs", "1", "--out", out, *FAST).exit_code == 0
    one_line_error(invoke("run", "--out", out, "--resume", "--lr", "0.01", "--quiet"), "cannot resume", "lr (0.001 -> 0.01)")
    one_line_error(invoke("run", "--out", out, "--resume", "--seed", "1", "--method", "pause", "--quiet"), "seed (0 -> 1)", "method ('cot' -> 'pause')")
    one_line_error(invoke("run", "--out", out, "--resume", "--precision", "bf16", "--quiet"), "precision ('auto' -> 'bf16')")
    one_line_error(invoke("run", "--out", out, "--resume", "--epochs", "2", "--quiet"), "epochs (1 -> 2)")
    test = (data / "test.json").read_bytes()
    (data / "test.json").write_text(json.dumps(json.loads(test)[:-1]))
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "test data (its file differs from the run's start)")
    (data / "test.json").write_bytes(test)
    resumed = invoke("run", "--out", out, "--resume", "--eval-batch-size", "3", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["eval_batch_size"] == 3 and saved["lr"] == 0.001


@pytest.mark.slow
def test_resume_trusts_the_checkpoint_not_the_files_beside_it(tiny_prosqa, tmp_path):
    """config.yaml and start.json are editable copies: a resume judges its settings by what the checkpoint
    recorded, refuses when either file is gone, and fingerprints the validation file (it picks `best`)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_prosqa, data)
    out = tmp_path / "run"
    assert invoke("run", "--data", data, "--method", "cot", "--epochs", "1", "--out", out, *FAST).exit_code == 0
    config = (out / "config.yaml").read_text()
    (out / "config.yaml").write_text(config.replace("lr: 0.001", "lr: 0.5"))
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "cannot resume", "lr (0.001 -> 0.5)")
    (out / "config.yaml").unlink()
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "config.yaml is missing", "--overwrite")
    (out / "config.yaml").write_text(config)
    start = (out / "start.json").read_text()
    (out / "start.json").unlink()
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "start.json is missing")
    (out / "start.json").write_text(start)
    valid = (data / "valid.json").read_bytes()
    (data / "valid.json").write_text(json.dumps(json.loads(valid)[:-1]))
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "valid data (its file differs from the run's start)")
    (data / "valid.json").write_bytes(valid)
    assert invoke("run", "--out", out, "--resume", "--quiet").exit_code == 0


@pytest.mark.slow
def test_resume_without_out_finds_the_run_a_fresh_run_would_make(tiny_prosqa, tmp_path, monkeypatch):
    import shutil

    import yaml

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_prosqa, tmp_path / "tiny")
    args = ["run", "--data", "tiny", "--method", "cot", "--epochs", "1", *FAST]
    assert invoke(*args).exit_code == 0
    (run_dir,) = (tmp_path / "runs").iterdir()  # named by the options that differ from the defaults
    resumed = invoke(*args, "--resume", "--eval-batch-size", "3")  # the same settings find the same directory
    assert resumed.exit_code == 0, resumed.output
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["lr"] == 0.001 and saved["max_new_tokens"] == 20 and saved["eval_batch_size"] == 3  # its own settings, not the defaults


@pytest.mark.slow
def test_resume_checks_that_best_holds_the_trainer_states_best_epoch(tiny_prosqa, tmp_path):
    """A kill between the `best` and `last` writes leaves `best` one epoch ahead: the resume redoes that
    epoch, and goes on if it validates as well (it rewrites `best`), else stops in one line rather than
    report another epoch's model as the best. Any other mismatch is refused at the start."""
    import shutil

    out = tmp_path / "run"
    assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "2", "--out", out, *FAST).exit_code == 0
    state_file = out / "checkpoints" / "last" / "trainer_state.pt"
    saved = torch.load(state_file, weights_only=False)
    meta_file = out / "checkpoints" / "best" / "cocobench.json"
    meta = json.loads(meta_file.read_text())
    shutil.copytree(out, tmp_path / "pristine")

    def rewind(best_accuracy, best_epoch_on_disk):
        """`last` as after epoch 0 (best: epoch 0 at `best_accuracy`), `best` claiming `best_epoch_on_disk`."""
        shutil.rmtree(out)
        shutil.copytree(tmp_path / "pristine", out)
        (out / "results.json").unlink()
        state = dict(saved["state"], epoch=1, history=saved["state"]["history"][:1], best_epoch=0, best_accuracy=best_accuracy)
        torch.save({**saved, "state": state}, state_file)
        meta_file.write_text(json.dumps({**meta, "epoch": best_epoch_on_disk}))

    rewind(best_accuracy=-1.0, best_epoch_on_disk=1)  # the redone epoch 1 improves: it rewrites best
    assert invoke("run", "--out", out, "--resume", "--quiet").exit_code == 0
    assert json.loads(meta_file.read_text())["epoch"] == 1 == json.loads((out / "results.json").read_text())["metrics"]["best_epoch"]
    rewind(best_accuracy=2.0, best_epoch_on_disk=1)  # the redone epoch 1 does not: best is not the run's best
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "checkpoints/best", "holds epoch 1 but the trainer state's best is epoch 0")
    assert not (out / "results.json").exists()
    rewind(best_accuracy=0.5, best_epoch_on_disk=7)
    one_line_error(invoke("run", "--out", out, "--resume", "--quiet"), "holds epoch 7 but the trainer state's best is epoch 0")


def test_ctrl_c_in_any_command_says_so_and_exits_130(tiny_prosqa, tmp_path, monkeypatch):
    import cocobench.checkpoint_eval

    def interrupt(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cocobench.checkpoint_eval, "evaluate_checkpoint", interrupt)
    result = invoke("eval", "--checkpoint", tmp_path, "--data", tiny_prosqa, "--quiet")
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted: stopped by Ctrl-C"


@pytest.mark.slow
def test_run_without_task_or_data_trains_on_prosqa_and_names_the_changed_options(tiny_prosqa, tmp_path, monkeypatch):
    """`cocobench run --method coconut --c 2`: ProsQA's default data (made once; here a small stand-in with
    the current generator version), runs/prosqa-coconut-c2-...-seed0, the changed settings and an estimate."""
    import shutil

    from cocobench.tasks import prosqa

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_prosqa, tmp_path / "data" / "prosqa-default")
    (tmp_path / "data" / "prosqa-default" / "meta.json").write_text(json.dumps({"generator": "prosqa", "version": prosqa.VERSION}))
    args = ["--epochs", "2", "--max-new-tokens", "20", "--max-latent-stage", "1", "--epochs-per-stage", "1"]
    result = invoke("run", "--method", "coconut", "--c", "2", *args)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "prosqa-coconut-epochs2-max-new-tokens20-h"
    (found,) = (tmp_path / "runs").iterdir()
    assert found.name.startswith(run_dir.name) and found.name.endswith("-seed0")
    results = json.loads((found / "results.json").read_text())
    assert results["task"] == "prosqa" and results["options"]["c"] == 2
    err = " ".join(result.stderr.split())
    assert "settings differing from the defaults: --epochs 2, --max-new-tokens 20, --c 2, --max-latent-stage 1, --epochs-per-stage 1" in err
    assert "estimate: training takes about" in err and "generating default" not in err  # the data was there: not made again
    assert "optimizer steps: " in err and "--batch-size 32 per micro-batch x --grad-accum 4" in err
    again = invoke("run", "--method", "coconut", "--c", "1", *args, "--quiet")
    assert again.exit_code == 0 and len(list((tmp_path / "runs").iterdir())) == 2  # c=1 does not collide with c=2


def test_the_header_counts_optimizer_steps_not_micro_batches():
    """--batch-size is the micro-batch: 40,000 examples in micro-batches of 128 with 4 per step are 313
    micro-batches but 79 optimizer steps of 512 (the last one short), per process count."""
    from cocobench.config import RunConfig
    from cocobench.runner import optimizer_steps_line

    cfg = RunConfig(batch_size=128, grad_accum=4, epochs=7)
    assert optimizer_steps_line(cfg, 40_000) == ("optimizer steps: 79 per epoch, 553 in all, each of up to 512 examples "
                                                 "(--batch-size 128 per micro-batch x --grad-accum 4)")
    assert optimizer_steps_line(RunConfig(batch_size=128, grad_accum=1, epochs=2), 17_886).startswith("optimizer steps: 140 per epoch, 280 in all, each of up to 128 ")
    assert "40 per epoch" in optimizer_steps_line(cfg, 40_000, world_size=2) and "x 2 processes" in optimizer_steps_line(cfg, 40_000, world_size=2)


@pytest.mark.slow
def test_the_estimate_leaves_training_unchanged(tiny_prosqa, tmp_path):
    """The timed micro-batches before training touch neither the weights nor the random state."""
    args = ["--data", tiny_prosqa, "--method", "coconut", "--epochs", "2", *[a for a in FAST if a != "--quiet"]]
    assert invoke("run", *args, "--out", tmp_path / "loud").exit_code == 0
    assert invoke("run", *args, "--out", tmp_path / "quiet", "--quiet").exit_code == 0
    for name, tensor in weights(tmp_path / "loud").items():
        assert torch.equal(tensor, weights(tmp_path / "quiet")[name]), name


@pytest.mark.slow
def test_one_overwrite_policy_for_run_and_eval(tiny_prosqa, tmp_path):
    """An output that already holds files is refused unless --overwrite; run --overwrite starts over, never with --resume."""
    out = tmp_path / "run"
    args = ["run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--limit-train", "16", "--out", out, *FAST]
    assert invoke(*args).exit_code == 0
    one_line_error(invoke(*args), "already holds a run", "--resume", "--overwrite")
    one_line_error(invoke(*args, "--resume", "--overwrite"), "--resume continues", "--overwrite starts it over")
    (out / "checkpoints" / "epoch-7").mkdir()  # an older run's leftovers go; the user's own files stay
    (out / "results.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    again = invoke(*args, "--overwrite", "--format", "json")
    assert again.exit_code == 0, again.output
    assert not (out / "checkpoints" / "epoch-7").exists() and (out / "checkpoints" / "best").is_dir()
    assert json.loads((out / "results.json").read_text())["method"] == "cot" and (out / "notes.txt").read_text() == "mine"
    assert json.loads(again.stdout)["run_name"] == "run"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not a run")
    one_line_error(invoke(*args[:-len(FAST) - 2], "--out", other, *FAST), "already holds files", "--overwrite")
    assert (other / "notes.txt").read_text() == "not a run"

    evaluate = ["eval", "--checkpoint", out / "checkpoints" / "best", "--data", tiny_prosqa / "test.json", "--out", tmp_path / "eval", "--quiet"]
    assert invoke(*evaluate).exit_code == 0
    one_line_error(invoke(*evaluate), "already holds files", "--overwrite")
    replaced = invoke(*evaluate, "--overwrite", "--format", "json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["total"] == 8
    one_line_error(invoke(*evaluate, "--overwrite", "--json", "--format", "csv"), "--json means --format json")
    import shutil

    shutil.copytree(out / "checkpoints" / "best", tmp_path / "elsewhere" / "best")  # another model, as far as `out` knows
    results = (out / "results.json").read_bytes()
    one_line_error(invoke("eval", "--checkpoint", tmp_path / "elsewhere" / "best", "--data", tiny_prosqa / "test.json", "--out", out, "--overwrite"),
                   "is the run directory of other checkpoints", "choose another --out")
    assert (out / "results.json").read_bytes() == results
    assert invoke("eval", "--checkpoint", out / "checkpoints" / "best", "--data", tiny_prosqa / "test.json", "--out", out, "--overwrite", "--quiet").exit_code == 0


@pytest.mark.slow
def test_overwrite_that_cannot_remove_a_file_removes_nothing(tiny_prosqa, tmp_path):
    """An immutable checkpoints/ (chattr +i; root only): `run --overwrite` stops in one line, every old
    file still in place, instead of a traceback after emptying best and last."""
    import subprocess

    out = tmp_path / "run"
    args = ["run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--limit-train", "8", "--limit-eval", "2", "--out", out, *FAST]
    assert invoke(*args).exit_code == 0
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    if subprocess.run(["chattr", "+i", str(out / "checkpoints")], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a filesystem that supports it")
    try:
        one_line_error(invoke(*args, "--overwrite"), "cannot remove", "checkpoints", "nothing was removed")
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    finally:
        subprocess.run(["chattr", "-i", str(out / "checkpoints")], check=True)


@pytest.mark.slow
def test_the_test_evaluation_runs_in_the_precision_the_results_record(tiny_prosqa, tmp_path, monkeypatch):
    """Validation, the run's test and `eval` generate under the run's precision (bf16 autocast when the
    results say bf16), not in fp32 while recording bf16."""
    import torch

    import cocobench.evaluate
    import cocobench.train

    seen = []
    real = cocobench.evaluate.evaluate

    def recording(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return real(*args, **kwargs)

    monkeypatch.setattr(cocobench.evaluate, "evaluate", recording)
    monkeypatch.setattr(cocobench.train, "evaluate", recording)  # validation's name for it, bound at import
    out = tmp_path / "bf16"
    result = invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--precision", "bf16", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["options"]["precision"] == "bf16"
    assert seen == [True, True]  # the epoch's validation, then the test
    for precision, expected in (("bf16", True), ("fp32", False)):
        seen.clear()
        result = invoke("eval", "--checkpoint", out / "checkpoints" / "best", "--data", tiny_prosqa, "--precision", precision,
                        "--out", tmp_path / f"eval-{precision}", "--quiet")
        assert result.exit_code == 0, result.output
        assert seen == [expected]
