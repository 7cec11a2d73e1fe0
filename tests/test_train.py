"""The training loop acting on what it is told: every micro-batch of an epoch trained once, each step
the mean gradient of its own group (the last, partial one included), optimizer resets, fresh
random draws (dropout, the methods' choices) every epoch, and the epoch kept as best on a tie.
train() directly, on ten examples."""

from __future__ import annotations

import json
import random

import pytest
import torch

import cocobench.train
from cocobench.batches import batch_indices, collate
from cocobench.config import RunConfig
from cocobench.engine import latent_forward
from cocobench.examples import load_examples, sequence_text
from cocobench.methods import get_method
from cocobench.models import build_model_and_tokenizer
from cocobench.tokenizer import token_ids

N_TRAIN = 10  # batch size 2, 2 micro-batches per step: 5 micro-batches = steps of 2, 2 and 1


def setup_training(data_dir, method_name: str, **overrides):
    """(cfg, model, tokenizer, method, train examples) for a tiny run of `method_name`."""
    examples = load_examples(data_dir / "train.json")[:N_TRAIN]
    settings = dict(method=method_name, model="gpt2-tiny", epochs=1, batch_size=2, grad_accum=2, lr=1e-3, max_latent_stage=1, epochs_per_stage=1) | overrides
    cfg = RunConfig(**settings)
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", [sequence_text(e) for e in examples], seed=0)
    return cfg, model, tokenizer, get_method(method_name, cfg, tokenizer), examples


def run_train(cfg, model, tokenizer, method, examples, run_dir):
    return cocobench.train.train(cfg, model, tokenizer, method, examples, [], run_dir=run_dir, device=torch.device("cpu"))


def micro_batch_gradient(model, tokenizer, method, examples, indices) -> list[torch.Tensor]:
    ids = token_ids(tokenizer)
    sequences = [method.train_sequence(examples[i], epoch=0, batch_index=0, batches_per_epoch=1, rng=random.Random(0)) for i in indices]
    batch = collate(sequences, ids.pad)
    model.zero_grad(set_to_none=True)
    latent_forward(model, batch["input_ids"], batch["attention_mask"], batch["labels"], latent_id=ids.latent).loss.backward()
    gradients = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return gradients


@pytest.mark.slow
@pytest.mark.parametrize("grad_clip", [None, 1e-3])
def test_each_step_applies_the_mean_gradient_of_its_group_the_partial_one_included(grad_clip, tiny_prosqa, tmp_path, monkeypatch):
    """5 micro-batches with --grad-accum 2: three optimizer steps, the last of a single micro-batch.
    Each step's gradient is the mean over its group's micro-batches, divided by the group's real size
    (so the partial group is not down-weighted), then clipped. Checked against per-micro-batch
    gradients computed here, with an optimizer that records gradients and never moves the weights."""
    cfg, model, tokenizer, method, examples = setup_training(tiny_prosqa, "cot", grad_clip=grad_clip)
    for module in model.modules():  # the reference needs the same forward as the trainer: no dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    stepped: list[list[torch.Tensor]] = []

    class RecordingOptimizer(torch.optim.SGD):
        def __init__(self, parameters):
            super().__init__(parameters, lr=0.0)

        def step(self, closure=None):
            stepped.append([p.grad.clone() for p in self.param_groups[0]["params"]])
            return super().step(closure)

    monkeypatch.setattr(cocobench.train, "make_optimizer", lambda cfg, parameters, device=None: RecordingOptimizer(parameters))
    run_train(cfg, model, tokenizer, method, examples, tmp_path)

    micro = batch_indices(N_TRAIN, cfg.batch_size, cfg.seed, 0)
    groups = [micro[i : i + cfg.grad_accum] for i in range(0, len(micro), cfg.grad_accum)]
    assert [len(g) for g in groups] == [2, 2, 1] and len(stepped) == len(groups)
    for step, (group, recorded) in enumerate(zip(groups, stepped)):
        grads = [micro_batch_gradient(model, tokenizer, method, examples, indices) for indices in group]
        expected = [sum(parts) / len(group) for parts in zip(*grads)]
        if grad_clip is not None:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in expected]))
            assert norm > grad_clip  # the clip is active
            expected = [g * (grad_clip / (norm + 1e-6)) for g in expected]
        for got, want in zip(recorded, expected):
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-8), f"step {step}: max abs diff {float((got - want).abs().max()):.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("reset, steps", [("stage", 3), ("never", 6)])
def test_the_optimizer_is_reset_where_the_method_says(reset, steps, tiny_prosqa, tmp_path):
    """Coconut, one epoch per stage: the stage changes at epoch 1, so with resets the AdamW saved after
    epoch 1 has taken only that epoch's 3 steps (its moments start afresh); without, all 6."""
    cfg, model, tokenizer, method, examples = setup_training(tiny_prosqa, "coconut", epochs=2, reset_optimizer=reset)
    run_train(cfg, model, tokenizer, method, examples, tmp_path)
    saved = torch.load(tmp_path / "checkpoints" / "last" / "trainer_state.pt", weights_only=False)["optimizer"]["state"]
    assert {int(s["step"]) for s in saved.values()} == {steps}


@pytest.mark.slow
def test_every_epoch_draws_new_dropout_masks(tiny_prosqa, tmp_path, monkeypatch):
    """Two epochs on the same micro-batches in the same order (CoT's sequences do not change): the
    dropout masks differ between the epochs, and a rerun draws the same masks again."""
    real_batch_indices = batch_indices
    monkeypatch.setattr(cocobench.train, "batch_indices", lambda n, size, seed, epoch, **kw: real_batch_indices(n, size, seed, 0, **kw))

    def masks(run_dir):
        cfg, model, tokenizer, method, examples = setup_training(tiny_prosqa, "cot", epochs=2)
        seen = []
        model.transformer.drop.register_forward_hook(lambda module, args, out: seen.append(out == 0))  # (B, T, C) the embedding dropout
        run_train(cfg, model, tokenizer, method, examples, run_dir)
        assert len(seen) == 10
        return seen[:5], seen[5:]

    first, second = masks(tmp_path / "a")
    assert all(a.shape == b.shape for a, b in zip(first, second))
    assert not any(torch.equal(a, b) for a, b in zip(first, second))
    again = masks(tmp_path / "b")
    assert all(torch.equal(a, b) for a, b in zip(first + second, again[0] + again[1]))


@pytest.mark.slow
def test_every_epoch_draws_new_icot_smoothing_offsets(tiny_prosqa, tmp_path):
    """iCoT's removal smoothing draws from a generator seeded by (seed, epoch): different offsets in
    every epoch, the same ones on a rerun."""

    def offsets(run_dir):
        cfg, model, tokenizer, method, examples = setup_training(tiny_prosqa, "icot", epochs=2, removal_smoothing=0.5)
        drawn, draw = [], method.smoothing_offset
        method.smoothing_offset = lambda rng: drawn.append(draw(rng)) or drawn[-1]
        run_train(cfg, model, tokenizer, method, examples, run_dir)
        assert len(drawn) == 2 * N_TRAIN
        return drawn

    drawn = offsets(tmp_path / "a")
    assert drawn[:N_TRAIN] != drawn[N_TRAIN:] and len(set(drawn)) > 1
    assert offsets(tmp_path / "b") == drawn


@pytest.mark.slow
def test_a_tie_in_validation_accuracy_keeps_the_earlier_epoch_as_best(tiny_prosqa, tmp_path, monkeypatch):
    """Validation accuracies 50%, 50%, 25%: `best` is epoch 0's model (the first to reach the best
    accuracy), not epoch 1's; that is the model the test split evaluates."""
    from safetensors.torch import load_file

    from cocobench.evaluate import Evaluation

    cfg, model, tokenizer, method, examples = setup_training(tiny_prosqa, "cot", epochs=3)
    accuracies, validated = [0.5, 0.5, 0.25], []

    def scripted_validation(eval_model, *args, **kwargs):
        validated.append({name: t.detach().clone() for name, t in eval_model.state_dict().items()})  # the weights validated at this epoch
        return Evaluation(metrics={"accuracy": accuracies[len(validated) - 1]}, samples=[])

    monkeypatch.setattr(cocobench.train, "evaluate", scripted_validation)
    state = cocobench.train.train(cfg, model, tokenizer, method, examples, examples[:2], run_dir=tmp_path, device=torch.device("cpu"))
    assert len(validated) == 3 and (state.best_epoch, state.best_accuracy) == (0, 0.5)
    best = tmp_path / "checkpoints" / "best"
    assert json.loads((best / "cocobench.json").read_text())["epoch"] == 0
    saved = load_file(str(best / "model.safetensors"))
    assert all(torch.equal(tensor, validated[0][name]) for name, tensor in saved.items())
    assert not all(torch.equal(tensor, validated[1][name]) for name, tensor in saved.items())  # epoch 1 trained on: other weights
