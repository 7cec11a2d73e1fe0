"""Multi-process training on CPU: gloo with 2 processes, as `torchrun` would launch it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _average_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    from cocobench import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)  # same initial weights on both ranks
    data = torch.arange(8.0).reshape(2, 4) + rank  # different data per rank
    model(data).square().sum().backward()
    distributed.average_gradients(model.parameters())
    torch.save({n: p.grad for n, p in model.named_parameters()}, f"{out_dir}/grad{rank}.pt")
    dist.destroy_process_group()


def test_average_gradients_matches_the_mean_of_each_process(tmp_path):
    mp.spawn(_average_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    grads = [torch.load(tmp_path / f"grad{r}.pt") for r in range(2)]
    expected = {}
    for rank in range(2):  # the same two computations, by hand, in this process
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        model((torch.arange(8.0).reshape(2, 4) + rank)).square().sum().backward()
        for name, p in model.named_parameters():
            expected[name] = expected.get(name, 0) + p.grad / 2
    for name, grad in expected.items():
        assert torch.allclose(grads[0][name], grad) and torch.equal(grads[0][name], grads[1][name])


def test_torchrun_two_processes_end_to_end(tiny_prosqa, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "cocobench", "run",
               "--data", str(tiny_prosqa), "--method", "coconut", "--model", "gpt2-tiny", "--epochs", "2", "--epochs-per-stage", "1",
               "--max-latent-stage", "1", "--batch-size", "4", "--grad-accum", "1", "--max-new-tokens", "16", "--out", str(out), "--quiet"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"]["total"] == 8 and len(results["metrics"]["epochs"]) == 2
    assert (out / "checkpoints" / "last" / "trainer_state.pt").is_file()
