"""The training loop, in the order it runs: schedule -> micro-batches -> step -> validate -> checkpoint.

Reproducibility: the example order, the methods' random choices and dropout are all seeded from
(seed, epoch), and the optimizer state is checkpointed, so a run resumed from its last checkpoint
ends with the same weights as an uninterrupted one (bit for bit on CPU).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from cocobench import distributed
from cocobench.batches import batch_indices, collate
from cocobench.engine import latent_forward
from cocobench.evaluate import evaluate
from cocobench.examples import Example
from cocobench.tokenizer import token_ids

@dataclass
class TrainState:
    epoch: int = 0  # the next epoch to run
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float | None = None
    best_epoch: int | None = None
    train_seconds: float = 0.0


def make_optimizer(cfg, parameters) -> torch.optim.Optimizer:
    return torch.optim.AdamW(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)


def stop_classifier_loss(method, classifier, input_ids: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """BCE of the stop probe on thought positions; returns (loss, correct, counted)."""
    targets = torch.tensor([method.stop_targets(row) for row in input_ids.tolist()], device=hidden.device)  # (B, T)
    where = targets != -100
    if not where.any():
        return hidden.new_zeros(()), 0, 0
    logits = classifier(hidden[where].float())  # (N,)
    labels = targets[where].float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    correct = int(((logits > 0).float() == labels).sum())
    return loss, correct, int(labels.numel())


def train(cfg, model, tokenizer, method, train_examples: list[Example], valid_examples: list[Example], *, run_dir: Path, device, stop_classifier=None, resume_from: Path | None = None, reporter=None) -> TrainState:
    from cocobench.device import autocast
    from cocobench.checkpoints import load_training_state, save_run_checkpoint

    rank, world_size = distributed.world()
    ids = token_ids(tokenizer)
    parameters = list(model.parameters()) + (list(stop_classifier.parameters()) if stop_classifier is not None else [])
    optimizer = make_optimizer(cfg, parameters)
    state = TrainState()
    if resume_from is not None:
        state = load_training_state(resume_from, optimizer)

    feed = method.thought_feed or "hidden"
    micro_per_epoch = len(batch_indices(len(train_examples), cfg.batch_size, cfg.seed, 0, rank=rank, world_size=world_size))
    steps_per_epoch = math.ceil(micro_per_epoch / cfg.grad_accum)
    for epoch in range(state.epoch, cfg.epochs):
        epoch_start = time.perf_counter()
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout: same masks whether resumed or not
        rng = random.Random(f"method:{cfg.seed}:{epoch}:{rank}")
        batches = batch_indices(len(train_examples), cfg.batch_size, cfg.seed, epoch, rank=rank, world_size=world_size)
        loss_sum, loss_count, probe_correct, probe_total = 0.0, 0, 0, 0
        model.train()
        if reporter:
            reporter.start_epoch(epoch, method.stage(epoch), steps_per_epoch)
        for step in range(steps_per_epoch):
            if method.reset_optimizer(epoch=epoch, batch_index=step, batches_per_epoch=steps_per_epoch):
                optimizer = make_optimizer(cfg, parameters)
            group = batches[step * cfg.grad_accum : (step + 1) * cfg.grad_accum]
            examples_in_step = 0
            for indices in group:
                sequences = [
                    method.train_sequence(train_examples[i], epoch=epoch, batch_index=step, batches_per_epoch=steps_per_epoch, rng=rng)
                    for i in indices
                ]
                batch = {name: t.to(device) for name, t in collate(sequences, ids.pad).items()}
                with autocast(device):
                    out = latent_forward(model, batch["input_ids"], batch["attention_mask"], batch["labels"], latent_id=ids.latent, feed=feed, pause_embedding_id=ids.pause)
                    loss = out.loss
                    if stop_classifier is not None:
                        probe_loss, correct, counted = stop_classifier_loss(method, stop_classifier, batch["input_ids"], out.hidden)
                        loss = loss + probe_loss
                        probe_correct, probe_total = probe_correct + correct, probe_total + counted
                # The step's gradient is the mean over its group's micro-batches. The epoch's last group may be
                # partial (steps_per_epoch rounds up): it is trained as a smaller batch, divided by its real size
                # like a data loader's short last batch; the authors' code divides by grad_accum, which scales
                # that step down by len(group) / grad_accum.
                (loss / len(group)).backward()
                loss_sum, loss_count = loss_sum + float(loss.detach()), loss_count + 1
                examples_in_step += len(indices)
            distributed.average_gradients(parameters)
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if reporter:
                reporter.step(examples_in_step * world_size, loss_sum / max(loss_count, 1))

        seconds = time.perf_counter() - epoch_start
        record: dict[str, Any] = {"epoch": epoch, "stage": method.stage(epoch), "train_loss": loss_sum / max(loss_count, 1)}
        if stop_classifier is not None:
            record["stop_classifier_train_accuracy"] = probe_correct / probe_total if probe_total else None
        if valid_examples:
            validation = evaluate(
                model, tokenizer, method, valid_examples,
                k=cfg.k, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch_size,
                stop_classifier=stop_classifier if cfg.latent_stop == "classifier" else None, max_thoughts=cfg.max_thoughts or cfg.max_thoughts_allowed,
            )
            record["val_accuracy"] = validation.metrics["accuracy"]
        record["seconds"] = time.perf_counter() - epoch_start
        state.train_seconds += seconds
        state.history.append(record)
        state.epoch = epoch + 1
        improved = "val_accuracy" in record and (state.best_accuracy is None or record["val_accuracy"] > state.best_accuracy)
        if improved:
            state.best_accuracy, state.best_epoch = record["val_accuracy"], epoch
        if distributed.is_main():
            save_run_checkpoint(run_dir, cfg, model, tokenizer, stop_classifier, state, optimizer, best=improved)
        distributed.barrier()
        if reporter:
            reporter.end_epoch(record)
    return state


def state_to_dict(state: TrainState) -> dict[str, Any]:
    return asdict(state)
