"""The training loop, in the order it runs: schedule -> micro-batches -> step -> validate -> checkpoint.

Reproducibility: the example order, the methods' random choices and dropout are all seeded from
(seed, epoch), and the optimizer state is checkpointed, so a run resumed from its last checkpoint
ends with the same weights as an uninterrupted one (bit for bit on CPU).

On a GPU the step loop reads nothing back from the device: batches are built and the latent passes
planned on the CPU, losses are summed on the device, and the progress bar reads them at most a few
times a second (tests check this with torch.cuda.set_sync_debug_mode).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cocobench import distributed
from cocobench.batches import batch_indices
from cocobench.checkpoints import TrainState, load_training_state, save_run_checkpoint
from cocobench.device import autocast, configure_matmul
from cocobench.engine import LatentLM
from cocobench.evaluate import evaluate
from cocobench.examples import Example
from cocobench.tokenizer import token_ids


def make_optimizer(cfg, parameters, device=None) -> torch.optim.Optimizer:
    # CUDA: the fused kernel (one launch for all parameters, no host reads); same arithmetic as AdamW.
    fused = device is not None and torch.device(device).type == "cuda"
    return torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay, **({"fused": True} if fused else {}))


def latent_module(model, tokenizer, method, stop_classifier=None) -> LatentLM:
    """The module a training step runs: the model's latent forward with the method's thought feed."""
    ids = token_ids(tokenizer)
    return LatentLM(model, latent_id=ids.latent, feed=method.thought_feed or "hidden", pause_embedding_id=ids.pause, stop_classifier=stop_classifier,
                    codi=method.loss_weights())


def loss_parts(out: dict[str, torch.Tensor]) -> list[str]:
    """The parts of the training loss the engine reports beside it (CODI's "student_loss", "teacher_loss",
    "distill_loss"), averaged per epoch into the history as train_<part>; the stop probe's are its own."""
    return [name for name in out if name.endswith("_loss") and name != "probe_loss"]


def stop_targets(method, input_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) the stop probe's 0/1 target at each thought position, -100 elsewhere (on the CPU)."""
    return torch.tensor([method.stop_targets(row) for row in input_ids.tolist()])


@dataclass
class RunningSums:
    """An epoch's training losses, summed on the device (float64: the same sums as adding Python floats)
    and read once at its end, or by the progress bar at most a few times a second."""

    loss: torch.Tensor
    probe_correct: torch.Tensor
    count: int = 0  # micro-batches
    probed: int = 0  # thought positions the stop probe was scored on
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # a loss's parts, when the engine reports them (CODI: student, teacher, distill)

    @classmethod
    def on(cls, device) -> RunningSums:
        return cls(torch.zeros((), dtype=torch.float64, device=device), torch.zeros((), dtype=torch.long, device=device))

    def mean_loss(self) -> float:
        return float(self.loss) / max(self.count, 1)


def train(cfg, model, tokenizer, method, train_examples: list[Example], valid_examples: list[Example], *, run_dir: Path, device, stop_classifier=None,
          resume_from: Path | None = None, reporter=None, state: TrainState | None = None, sync_debug: bool = False) -> TrainState:
    """Train `model` in place (under torchrun: wrapped in DDP, or FSDP2 with cfg.fsdp), validating and
    checkpointing after every epoch. `state` starts from a given point without a checkpoint (timing
    probes); `sync_debug` makes any host synchronisation in the CUDA step loop an error (tests)."""
    rank, world_size = distributed.world()
    pad_id = token_ids(tokenizer).pad
    configure_matmul(device, cfg.precision)
    net = distributed.wrap(latent_module(model, tokenizer, method, stop_classifier), torch.device(device), fsdp=cfg.fsdp)
    parameters = list(net.parameters())  # the model's, then the stop probe's (after wrapping: FSDP shards them)
    optimizer = make_optimizer(cfg, parameters, device)
    state = state or TrainState()
    if resume_from is not None:
        state = load_training_state(resume_from, optimizer, net)

    micro_per_epoch = len(batch_indices(len(train_examples), cfg.batch_size, cfg.seed, 0, rank=rank, world_size=world_size))
    steps_per_epoch = math.ceil(micro_per_epoch / cfg.grad_accum)
    for epoch in range(state.epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        # dropout: the same masks whether resumed or not; each process its own
        torch.manual_seed(cfg.seed * 100_003 + epoch + (rank << 32))
        rng = random.Random(f"method:{cfg.seed}:{epoch}:{rank}")
        batches = batch_indices(len(train_examples), cfg.batch_size, cfg.seed, epoch, rank=rank, world_size=world_size)
        sums = RunningSums.on(device)
        net.train()
        if reporter:
            reporter.start_epoch(epoch, method.stage(epoch), steps_per_epoch)
        with sync_debug_mode("error" if sync_debug else None):
            for step in range(steps_per_epoch):
                if method.reset_optimizer(epoch=epoch, batch_index=step, batches_per_epoch=steps_per_epoch):
                    optimizer = make_optimizer(cfg, parameters, device)
                group = batches[step * cfg.grad_accum : (step + 1) * cfg.grad_accum]
                trained = train_step(cfg, net, optimizer, parameters, method, [[train_examples[i] for i in indices] for indices in group], sums,
                                     epoch=epoch, step=step, steps_per_epoch=steps_per_epoch, rng=rng, pad_id=pad_id,
                                     device=device, probe=stop_classifier is not None)
                if reporter:
                    reporter.step(trained * world_size, sums.mean_loss)

        seconds = time.perf_counter() - epoch_start
        record = epoch_record(epoch, method, sums, probe=stop_classifier is not None)
        if valid_examples:
            record["val_accuracy"] = validate(cfg, net, model, tokenizer, method, valid_examples, stop_classifier, device)
        record["seconds"] = time.perf_counter() - epoch_start
        state.train_seconds += seconds
        state.history.append(record)
        state.epoch = epoch + 1
        improved = "val_accuracy" in record and (state.best_accuracy is None or record["val_accuracy"] > state.best_accuracy)
        if improved:
            state.best_accuracy, state.best_epoch = record["val_accuracy"], epoch
        save_run_checkpoint(run_dir, cfg, model, tokenizer, stop_classifier, state, optimizer, best=improved, net=net)
        distributed.barrier()
        if reporter:
            reporter.end_epoch(record)
    return state


def train_step(cfg, net, optimizer, parameters, method, group: list[list[Example]], sums: RunningSums, *, epoch: int, step: int, steps_per_epoch: int,
               rng: random.Random, pad_id: int, device, probe: bool) -> int:
    """One optimizer step over its group of micro-batches (gradient accumulation), their losses added to
    `sums`; returns how many examples it trained on. `probe`: the stop probe trains beside the model."""
    pin = torch.device(device).type == "cuda"  # page-locked batches copy to the GPU asynchronously
    trained = 0
    for position, examples in enumerate(group):
        sequences = [method.training_sequence(example, epoch=epoch, batch_index=step, batches_per_epoch=steps_per_epoch, rng=rng) for example in examples]
        batch = method.collate(sequences, pad_id)  # on the CPU: the engine plans its passes there
        targets = stop_targets(method, batch["input_ids"]) if probe else None
        if pin:
            batch = {name: t.pin_memory() for name, t in batch.items()}
        with distributed.gradient_sync(net, enabled=position == len(group) - 1):
            with autocast(device, cfg.precision):
                out = net(**batch, stop_targets=targets)
                loss = out["loss"]
                if targets is not None:
                    loss = loss + out["probe_loss"]
                    sums.probe_correct += out["probe_correct"]
                    sums.probed += int(out["probe_counted"])  # a CPU tensor
            # The step's gradient is the mean over its group's micro-batches. The epoch's last group may
            # be partial (steps_per_epoch rounds up): it is trained as a smaller batch, divided by its
            # real size like a data loader's short last batch; the authors' code divides by grad_accum,
            # which scales that step down by len(group) / grad_accum.
            (loss / len(group)).backward()
        sums.loss += loss.detach()
        sums.count += 1
        for name in loss_parts(out):
            sums.parts[name] = sums.parts.get(name, 0) + out[name].detach().double()
        trained += len(examples)
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(parameters, cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return trained


def epoch_record(epoch: int, method, sums: RunningSums, *, probe: bool) -> dict[str, Any]:
    """The epoch's line of the training history: its mean losses over every process's micro-batches (one
    collective per epoch under torchrun), and the stop probe's accuracy on its thought positions."""
    total_loss, total_count, total_correct, total_probed = distributed.sum_over_processes(float(sums.loss), sums.count, int(sums.probe_correct), sums.probed)
    record: dict[str, Any] = {"epoch": epoch, "stage": method.stage(epoch), "train_loss": total_loss / max(total_count, 1)}
    if sums.parts:  # (every process has the same parts: the same method)
        for name, part in zip(sums.parts, distributed.sum_over_processes(*(float(x) for x in sums.parts.values()))):
            record[f"train_{name}"] = part / max(total_count, 1)
    if probe:
        record["stop_classifier_train_accuracy"] = total_correct / total_probed if total_probed else None
    return record


def validate(cfg, net, model, tokenizer, method, valid_examples: list[Example], stop_classifier, device) -> float:
    """Validation accuracy of the model as trained so far: greedy generation with the run's k, under its
    precision (what picks checkpoints/best)."""
    eval_model, eval_classifier = distributed.evaluation_copy(net, model, stop_classifier)
    with autocast(device, cfg.precision):
        validation = evaluate(
            eval_model, tokenizer, method, valid_examples,
            k=cfg.k, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch_size,
            stop_classifier=eval_classifier if cfg.latent_stop == "classifier" else None, max_thoughts=cfg.max_thoughts or cfg.max_thoughts_allowed,
        )
    return validation.metrics["accuracy"]


def estimate_train_seconds(cfg, model, tokenizer, method, train_examples: list[Example], *, device, timed: int = 2) -> tuple[float, int]:
    """(seconds, micro-batches) the training steps of the whole run should take on this machine: the mean
    time of `timed` micro-batches (forward + backward, spread from the first to the last stage, after
    one warm-up) times epochs x micro-batches per epoch. Validation and the test are not counted. Leaves
    the weights, gradients and random state as they were, so training is the same with or without it."""
    ids = token_ids(tokenizer)
    net = latent_module(model, tokenizer, method)
    _, world_size = distributed.world()
    micro = batch_indices(len(train_examples), cfg.batch_size, cfg.seed, 0, world_size=world_size)
    micro_per_epoch, indices = len(micro), micro[0]
    steps_per_epoch = math.ceil(micro_per_epoch / cfg.grad_accum)
    epochs = [0] + [round(i * (cfg.epochs - 1) / max(timed - 1, 1)) for i in range(timed)]  # a warm-up, then the spread
    seconds = []
    was_training = model.training
    cuda = torch.device(device).type == "cuda"
    with torch.random.fork_rng(devices=[torch.device(device)] if cuda else []):
        net.train()
        for epoch in epochs:
            rng = random.Random(f"estimate:{cfg.seed}:{epoch}")
            sequences = [method.training_sequence(train_examples[i], epoch=epoch, batch_index=0, batches_per_epoch=steps_per_epoch, rng=rng) for i in indices]
            batch = method.collate(sequences, ids.pad)  # on the CPU, as the trainer hands it over
            start = time.perf_counter()
            with autocast(device, cfg.precision):
                loss = net(**batch)["loss"]
            loss.backward()
            if cuda:
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    micro_batches = micro_per_epoch * cfg.epochs
    return sum(seconds[1:]) / len(seconds[1:]) * micro_batches, micro_batches


@contextlib.contextmanager
def sync_debug_mode(mode: str | None):
    """torch.cuda.set_sync_debug_mode for the duration ("error": a host synchronisation raises)."""
    if mode is None or not torch.cuda.is_available():
        yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(mode)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)
