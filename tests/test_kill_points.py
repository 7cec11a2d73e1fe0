"""Kill points: a run stopped anywhere resumes (`run --out DIR --resume`) to the weights and test samples
of a run nobody stopped.

Each kill point is a named place in a run, reached by patching the function that runs there: Ctrl-C
(a KeyboardInterrupt, in this process) where an exception is what happens, a real kill (`os._exit` in
a child process: no `finally`, no clean-up) where only a kill leaves the state to recover from, such
as a checkpoint set aside between the two renames of an atomic directory swap. The run: Coconut, three
epochs (stages 0, 0, 1; a random stage for half the examples; the optimizer reset at the stage change),
its validation accuracy made to rise every epoch so that every epoch writes `best` before `last`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cocobench.evaluate
import cocobench.io
import cocobench.models
import cocobench.train
from cocobench.methods.base import Method
from cocobench.methods.codi import Codi
from cocobench.progress import TrainingReporter
from tests.helpers import invoke

ARGS = ["--method", "coconut", "--epochs", "3", "--model", "gpt2-tiny", "--batch-size", "4", "--grad-accum", "2", "--limit-train", "16",
        "--limit-eval", "4", "--max-new-tokens", "12", "--eval-batch-size", "4", "--max-latent-stage", "2", "--epochs-per-stage", "2",
        "--uniform-prob", "0.5", "--lr", "1e-3", "--quiet"]
REPO = Path(__file__).resolve().parents[1]


class Trainer:
    """Where the trainer is: the epoch it announced to its progress reporter, and its micro-batches in it."""

    epoch: int | None = None
    micro_batches = 0


def same_run(patch) -> None:
    """What the reference and every stopped and resumed run share: the epoch followed, and a validation
    accuracy of (epoch + 1)% (the real validation runs; only its accuracy is replaced), so that every
    epoch is a new best."""
    start_epoch, evaluate = TrainingReporter.start_epoch, cocobench.train.evaluate

    def following(self, epoch, *args, **kwargs):
        Trainer.epoch, Trainer.micro_batches = epoch, 0
        return start_epoch(self, epoch, *args, **kwargs)

    def rising(*args, **kwargs):
        validation = evaluate(*args, **kwargs)
        validation.metrics["accuracy"] = (Trainer.epoch + 1) / 100
        return validation

    patch.setattr(TrainingReporter, "start_epoch", following)
    patch.setattr(cocobench.train, "evaluate", rising)


# --- the kill points: each installs `stop()` at its place (stop: Ctrl-C here, or a kill in a child) ---
def mid_epoch(epoch, method=Method):
    def install(patch, stop):
        collate = method.collate  # the trainer builds each micro-batch with its method's collate

        def collating(self, *args, **kwargs):
            Trainer.micro_batches += 1
            if Trainer.epoch == epoch and Trainer.micro_batches == 3:  # after the epoch's first optimizer step
                stop()
            return collate(self, *args, **kwargs)

        patch.setattr(method, "collate", collating)
    return install


def in_validation(patch, stop):
    evaluate = cocobench.train.evaluate

    def validating(*args, **kwargs):
        if Trainer.epoch == 1:
            stop()
        return evaluate(*args, **kwargs)

    patch.setattr(cocobench.train, "evaluate", validating)


def in_checkpoint_write(name):
    """Inside the atomic write of checkpoints/NAME at epoch 1, its weights already in the temporary directory."""
    def install(patch, stop):
        import transformers

        save_pretrained = transformers.PreTrainedModel.save_pretrained

        def saving(self, directory, *args, **kwargs):
            save_pretrained(self, directory, *args, **kwargs)
            if Trainer.epoch == 1 and Path(directory).name.startswith(f".{name}."):
                stop()

        patch.setattr(transformers.PreTrainedModel, "save_pretrained", saving)
    return install


def between_best_and_last(patch, stop):
    save_checkpoint = cocobench.models.save_checkpoint

    def saving(path, *args, **kwargs):
        if Trainer.epoch == 1 and Path(path).name == "last":
            stop()
        return save_checkpoint(path, *args, **kwargs)

    patch.setattr(cocobench.models, "save_checkpoint", saving)


def between_renames(name):
    """atomic_directory has set the old checkpoints/NAME aside (`.NAME.old`) and not yet moved the new one in."""
    def install(patch, stop):
        replace = os.replace

        def replacing(src, dst, *args, **kwargs):
            replace(src, dst, *args, **kwargs)
            if Trainer.epoch == 1 and str(dst).endswith(f".{name}.old"):
                stop()

        patch.setattr(cocobench.io.os, "replace", replacing)
    return install


def in_test_evaluation(patch, stop):
    evaluate = cocobench.evaluate.evaluate

    def testing(*args, **kwargs):
        stop()
        return evaluate(*args, **kwargs)

    patch.setattr(cocobench.evaluate, "evaluate", testing)  # the runner's test evaluation (validation is train's own)


def in_results_write(patch, stop):
    """results.json written to its temporary file, not yet renamed into place."""
    replace = os.replace

    def replacing(src, dst, *args, **kwargs):
        if str(dst).endswith("results.json"):
            stop()
        return replace(src, dst, *args, **kwargs)

    patch.setattr(cocobench.io.os, "replace", replacing)


KILL_POINTS = {  # name -> (install, how it stops: "ctrl-c" in this process, "kill" in a child)
    "epoch-0-mid-epoch": (mid_epoch(0), "ctrl-c"),  # before the first checkpoint
    "epoch-1-mid-epoch": (mid_epoch(1), "ctrl-c"),
    "epoch-1-in-validation": (in_validation, "ctrl-c"),
    "epoch-1-in-best-write": (in_checkpoint_write("best"), "ctrl-c"),
    "epoch-1-between-best-and-last": (between_best_and_last, "ctrl-c"),
    "epoch-1-in-last-write": (in_checkpoint_write("last"), "kill"),
    "epoch-1-between-renames-of-best": (between_renames("best"), "kill"),
    "epoch-1-between-renames-of-last": (between_renames("last"), "kill"),
    "in-test-evaluation": (in_test_evaluation, "ctrl-c"),
    "in-results-write": (in_results_write, "kill"),
}
KILLED = 137  # the child's exit status at a kill, as after SIGKILL


def run_in_child(kill_point: str, args: list[str]) -> subprocess.CompletedProcess:
    """`cocobench run ARGS` in a child process that dies at the kill point (os._exit: nothing cleans up)."""
    code = f"""
import os, sys
import pytest
from tests.test_kill_points import KILL_POINTS, KILLED, same_run
patch = pytest.MonkeyPatch()
same_run(patch)
KILL_POINTS[{kill_point!r}][0](patch, lambda: os._exit(KILLED))
sys.argv = ["cocobench", *{args!r}]
from cocobench.cli import main
main()
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def weights(run_dir: Path, which: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "checkpoints" / which / "model.safetensors"))


def outcome(run_dir: Path) -> dict:
    """What must not depend on a stop: the test samples, accuracy, best epoch and the epochs' losses."""
    results = json.loads((run_dir / "results.json").read_text())
    metrics = results["metrics"]
    epochs = [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in metrics["epochs"]]
    return {"samples": results["samples"], "accuracy": metrics["accuracy"], "best_epoch": metrics["best_epoch"], "epochs": epochs,
            "options": results["options"]}


@pytest.fixture(scope="module")
def reference(tiny_prosqa, tmp_path_factory):
    """The same run, never stopped."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        same_run(patch)
        result = invoke("run", "--data", tiny_prosqa, *ARGS, "--out", out)
    assert result.exit_code == 0, result.output
    assert outcome(out)["best_epoch"] == 2  # every epoch a new best: each one wrote `best`, then `last`
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_run_stopped_at_any_point_resumes_to_the_same_weights_and_samples(kill_point, reference, tiny_prosqa, tmp_path):
    install, how = KILL_POINTS[kill_point]
    out = tmp_path / "run"
    args = ["run", "--data", str(tiny_prosqa), *ARGS, "--out", str(out)]
    if how == "kill":
        child = run_in_child(kill_point, args)
        assert child.returncode == KILLED, child.stderr  # it died at the kill point
    else:
        def ctrl_c():
            raise KeyboardInterrupt

        with pytest.MonkeyPatch.context() as patch:
            same_run(patch)
            install(patch, ctrl_c)
            stopped = invoke(*args)
        assert stopped.exit_code == 130, stopped.output
        assert stopped.stderr.strip() == f"interrupted: resume with cocobench run --out {out} --resume"
    assert not (out / "results.json").exists()

    with pytest.MonkeyPatch.context() as patch:
        same_run(patch)
        resumed = invoke("run", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    for which in ("last", "best"):
        ours, theirs = weights(out, which), weights(reference, which)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), which
    assert outcome(out) == outcome(reference)
    # nothing left of the stop: no set-aside or half-written checkpoint, temporary file or lock
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best", "last"]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.yaml", "results.json", "start.json"]


def test_resume_where_no_run_started_is_one_line(tiny_prosqa, tmp_path):
    from tests.conftest import one_line_error

    one_line_error(invoke("run", "--data", tiny_prosqa, *ARGS, "--out", tmp_path / "none", "--resume"), "nothing to resume", "without --resume")
    assert not (tmp_path / "none").exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("not a run")
    one_line_error(invoke("run", "--data", tiny_prosqa, *ARGS, "--out", tmp_path / "notes", "--resume"), "nothing to resume")
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["mine.txt"]


# --- CODI: a thought projection saved beside the weights, from a state dict shared by `best` and `last` ---
CODI_ARGS = ["--method", "codi", "--epochs", "2", "--model", "gpt2-tiny", "--batch-size", "4", "--grad-accum", "2", "--limit-train", "16",
             "--limit-eval", "4", "--max-new-tokens", "12", "--eval-batch-size", "4", "--codi-thoughts", "2", "--lr", "1e-3", "--quiet"]
CODI_KILL_POINTS = {"epoch-1-mid-epoch": mid_epoch(1, Codi), "epoch-1-between-best-and-last": between_best_and_last,
                    "in-test-evaluation": in_test_evaluation}


def every_checkpoint_holds_weights(patch) -> None:
    """After each write of `best` or `last`, the directory holds the model's weights and the projection."""
    save_checkpoint = cocobench.models.save_checkpoint

    def saving(path, *args, **kwargs):
        save_checkpoint(path, *args, **kwargs)
        assert {"model.safetensors", "thought_projection.pt"} <= {p.name for p in Path(path).iterdir()}, path

    patch.setattr(cocobench.models, "save_checkpoint", saving)


@pytest.fixture(scope="module")
def codi_reference(tiny_prosqa, tmp_path_factory):
    out = tmp_path_factory.mktemp("codi-reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        same_run(patch)
        every_checkpoint_holds_weights(patch)
        result = invoke("run", "--data", tiny_prosqa, *CODI_ARGS, "--out", out)
    assert result.exit_code == 0, result.output
    assert outcome(out)["best_epoch"] == 1  # both epochs improved: each wrote `best` and `last` from one state dict
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kill_point", CODI_KILL_POINTS)
def test_a_codi_run_stopped_after_an_improving_epoch_resumes_to_the_same_weights(kill_point, codi_reference, tiny_prosqa, tmp_path):
    out = tmp_path / "run"

    def ctrl_c():
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        same_run(patch)
        CODI_KILL_POINTS[kill_point](patch, ctrl_c)
        assert invoke("run", "--data", tiny_prosqa, *CODI_ARGS, "--out", out).exit_code == 130
    with pytest.MonkeyPatch.context() as patch:
        same_run(patch)
        every_checkpoint_holds_weights(patch)
        resumed = invoke("run", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    for which in ("last", "best"):
        ours, theirs = weights(out, which), weights(codi_reference, which)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), which
    assert outcome(out) == outcome(codi_reference)


@pytest.mark.slow
def test_a_finished_codi_run_resumes(codi_reference, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(codi_reference, out)
    (out / "results.json").unlink()  # as if killed after its last checkpoint, before its results
    with pytest.MonkeyPatch.context() as patch:
        same_run(patch)
        resumed = invoke("run", "--out", out, "--resume", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert outcome(out) == outcome(codi_reference)
