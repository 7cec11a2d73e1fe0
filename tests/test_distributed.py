"""Multi-process training on CPU: gloo with 2 processes, as `torchrun` would launch it.

One spawn of 2 processes runs every scenario (process start-up dominates), each compared with the
same work done by one process here:
- DDP: 2 processes x micro-batch 2 = one process x micro-batch 2 x 2 accumulation steps (the same
  examples per optimizer step). Every example carries the same number of labelled tokens, so the mean
  of the micro-batch means is the same number whichever examples share a micro-batch; dropout is off.
  Tolerance: 1e-4 absolute on every weight after 8 AdamW steps at lr 1e-3 (fp32; only the summation
  order differs, and AdamW scales small gradient differences up); the weights themselves move > 2e-3.
- sharded evaluation: the same samples, in order, as one process;
- FSDP2: the same weights as one process (same tolerance), and checkpoints that open in plain
  transformers;
- CODI under DDP and under FSDP2: the weights and the thought projection of one process.
A killed 2-process `torchrun` run resumes and ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TOL = 1e-4  # fp32 summation order differs; AdamW normalises tiny gradient differences up (weights move ~4e-3)
NAMES = ["Tom", "Sam", "Ann", "Bob", "Eve", "Max", "Zoe", "Ian"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same_length_examples() -> list[dict]:
    """8 examples with questions of different lengths and the same labelled length (steps + answer)."""
    examples = []
    for i, name in enumerate(NAMES):
        filler = " ".join(["every wumpus is a yumpus ."] * (i % 3))
        examples.append({
            "question": f"{filler} {name} is a wumpus . Is {name} a yumpus or a zumpus ?".strip(),
            "steps": [f"{name} is a wumpus .", f"{name} is a yumpus ."],
            "answer": f"{name} is a yumpus .",
        })
    return examples


def setup_run(method: str, **settings):
    """(cfg, model without dropout, tokenizer, method, examples), identical in every process."""
    from cocobench.config import RunConfig
    from cocobench.examples import sequence_text
    from cocobench.methods import get_method
    from cocobench.models import build_model_and_tokenizer

    examples = same_length_examples()
    values = dict(task="prosqa", method=method, epochs=2, epochs_per_stage=1, max_latent_stage=1, batch_size=2, grad_accum=1, lr=1e-3, max_new_tokens=8, quiet=True)
    cfg = RunConfig(**{**values, **settings})
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", [sequence_text(e) for e in examples], seed=0)
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return cfg, model, tokenizer, get_method(method, cfg, tokenizer), examples


def train_and_evaluate(out: Path, **settings) -> None:
    """Train coconut 2 epochs (stage 0, then 1 thought), evaluate the examples; write weights and samples."""
    from cocobench import distributed
    from cocobench.evaluate import evaluate
    from cocobench.train import train

    cfg, model, tokenizer, method, examples = setup_run("coconut", **settings)
    state = train(cfg, model, tokenizer, method, examples, [], run_dir=out, device=torch.device("cpu"))
    trained = setup_run("coconut")[1]  # the saved weights in a plain model (FSDP's own holds shards)
    trained.load_state_dict(weights(out), strict=False)
    samples = evaluate(trained, tokenizer, method, examples, k=None, max_new_tokens=8, batch_size=3).samples
    if distributed.is_main():
        (out / "samples.json").write_text(json.dumps(samples))
        (out / "history.json").write_text(json.dumps(state.history))


def train_codi(out: Path, **settings) -> None:
    """Train CODI 2 epochs, one example per micro-batch: its loss (the teacher's std over the batch
    included) then sees the same rows whether a step's examples are split over processes or micro-batches."""
    from cocobench.train import train

    cfg, model, tokenizer, method, examples = setup_run("codi", codi_thoughts=2, batch_size=1, **settings)
    method.prepare_model(model, cfg.seed)  # the thought projection, the same in every process
    train(cfg, model, tokenizer, method, examples, [], run_dir=out, device=torch.device("cpu"))


def _worker(rank: int, world_size: int, port: int, root: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.set_num_threads(1)
    try:
        train_and_evaluate(Path(root) / "ddp")
        train_and_evaluate(Path(root) / "fsdp", fsdp=True)
        train_codi(Path(root) / "codi-ddp")
        train_codi(Path(root) / "codi-fsdp", fsdp=True)
        dist.barrier()  # both done before either tears gloo down (a peer gone mid-teardown aborts the other)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distributed")
    for name in ("ddp", "fsdp", "single", "codi-ddp", "codi-fsdp", "codi-single"):
        (root / name).mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(root)), nprocs=2, join=True)
    train_and_evaluate(root / "single", grad_accum=2)  # one process, the same examples per step
    train_codi(root / "codi-single", grad_accum=2)
    return root


def weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run / "checkpoints" / "last" / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        diff = float((wa[name] - wb[name]).abs().max())
        assert diff <= TOL, f"{name}: max abs diff {diff:.2e}"


@pytest.mark.slow
def test_ddp_gives_the_weights_of_one_process_with_the_same_effective_batch(runs):
    assert_same_weights(runs / "ddp", runs / "single")
    initial = setup_run("coconut")[1].state_dict()
    moved = max(float((weights(runs / "ddp")[n] - initial[n]).abs().max()) for n in weights(runs / "ddp"))
    assert moved > 2e-3  # it trained: the comparison is not between two untouched models
    ddp_history, single_history = (json.loads((runs / r / "history.json").read_text()) for r in ("ddp", "single"))
    assert [h["stage"] for h in ddp_history] == [0, 1]
    assert [h["train_loss"] for h in ddp_history] == pytest.approx([h["train_loss"] for h in single_history], abs=1e-5)


@pytest.mark.slow
def test_sharded_evaluation_equals_one_process_sample_for_sample(runs):
    from cocobench.evaluate import evaluate

    sharded = json.loads((runs / "ddp" / "samples.json").read_text())
    cfg, model, tokenizer, method, examples = setup_run("coconut")
    model.load_state_dict(weights(runs / "ddp"), strict=False)
    alone = evaluate(model, tokenizer, method, examples, k=None, max_new_tokens=8, batch_size=3).samples
    assert [s["idx"] for s in sharded] == list(range(len(examples)))
    assert sharded == alone


@pytest.mark.slow
def test_fsdp_trains_like_one_process_and_saves_a_plain_transformers_checkpoint(runs):
    from transformers import AutoModelForCausalLM

    assert_same_weights(runs / "fsdp", runs / "single")
    model = AutoModelForCausalLM.from_pretrained(runs / "fsdp" / "checkpoints" / "last")
    assert model.config.model_type == "gpt2"
    assert (runs / "fsdp" / "checkpoints" / "last" / "trainer_state.pt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("wrapper", ["ddp", "fsdp"])
def test_codi_trains_its_projection_like_one_process(runs, wrapper):
    from cocobench.engine import thought_projection

    assert_same_weights(runs / f"codi-{wrapper}", runs / "codi-single")
    ddp, single = (torch.load(runs / r / "checkpoints" / "last" / "thought_projection.pt") for r in (f"codi-{wrapper}", "codi-single"))
    assert ddp.keys() == single.keys()
    assert all(float((ddp[n] - single[n]).abs().max()) <= TOL for n in ddp)
    cfg, model, _, method, _ = setup_run("codi", codi_thoughts=2)
    method.prepare_model(model, cfg.seed)
    initial = thought_projection(model).state_dict()
    assert max(float((ddp[n] - initial[n]).abs().max()) for n in ddp) > 1e-4  # the projection trained under the wrapper


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "cocobench", "run", *args]


@pytest.mark.slow
def test_killed_two_process_run_resumes_to_the_uninterrupted_weights(tiny_prosqa, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    settings = ["--data", str(tiny_prosqa), "--method", "coconut", "--model", "gpt2-tiny", "--epochs", "3", "--epochs-per-stage", "1",
                "--max-latent-stage", "2", "--batch-size", "4", "--grad-accum", "2", "--max-new-tokens", "16", "--quiet"]
    whole = subprocess.run(torchrun(*settings, "--out", str(tmp_path / "whole")), env=env, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed = tmp_path / "killed"
    process = subprocess.Popen(torchrun(*settings, "--out", str(killed)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (killed / "checkpoints" / "last" / "trainer_state.pt").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the launcher and both workers, mid-run
    process.wait()
    assert not (killed / "results.json").exists(), "the run finished before it could be killed"
    resumed = subprocess.run(torchrun(*settings, "--out", str(killed), "--resume"), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    results = json.loads((killed / "results.json").read_text())
    assert results["metrics"]["total"] == 8 and [e["epoch"] for e in results["metrics"]["epochs"]] == [0, 1, 2]
    whole_weights, resumed_weights = weights(tmp_path / "whole"), weights(killed)
    for name in whole_weights:
        assert torch.equal(whole_weights[name], resumed_weights[name]), name
