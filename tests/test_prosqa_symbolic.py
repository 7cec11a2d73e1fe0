"""Symbolic ProsQA ("Reasoning by Superposition"): neighbor_k, conversion of the official files, the
symbolic tokenizer, that paper's sequences for the same random draws, node supervision, and every
method end to end."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from cocobench.config import RunConfig
from cocobench.evaluate import evaluate
from cocobench.examples import load_examples, write_splits
from cocobench.methods import get_method
from cocobench.methods.base import IGNORE
from cocobench.models import build_model_and_tokenizer
from cocobench.tasks import detect_task, prosqa_symbolic
from cocobench.tokenizer import build_symbolic_tokenizer, is_symbolic_tokenizer, sequence_format
from tests.conftest import shared_file
from tests.test_evaluate import gold_speaker

# A hand-made graph: root 1 -> {3, 4}; 3 -> 5; 4 -> 5; 4 -> 6; 5 -> 7 (target); 0 -> 2 -> 8 (neg_target).
HAND = {
    "idx_to_symbol": ["Ann", "Tom", "a", "b", "c", "d", "e", "f", "g"],
    "edges": [[0, 2], [1, 3], [1, 4], [3, 5], [4, 5], [4, 6], [5, 7], [2, 8]],
    "root": 1, "target": 7, "neg_target": 8,
    "question": "Every b is a d. Tom is a b. Tom is a c. Every c is a d. Every c is a e. Every d is a f. Ann is a a. Every a is a g. Is Tom a f or g?",
    "steps": ["Tom is a b.", "Every b is a d.", "Every d is a f."],
    "answer": "Tom is a f.",
}  # fmt: skip


@pytest.fixture(scope="module")
def symbolic_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("prosqa-symbolic")
    splits = prosqa_symbolic.generate_splits(seed=0, sizes={"train": 32, "valid": 6, "test": 6})
    write_splits(out, splits, {"generator": "prosqa-symbolic", "seed": 0})
    return out


def test_neighbor_k_lists_the_shortest_path_nodes_per_depth():
    assert prosqa_symbolic.neighbor_k(HAND["edges"], 1, 7) == {"0": [1], "1": [3, 4], "2": [5], "3": [7]}
    assert prosqa_symbolic.frontier(HAND["edges"], 1, 2) == [5, 6]  # Coconut-BFS: 6 is at depth 2 but on no path to 7


def test_conversion_writes_node_ids_and_checks_clean():
    ex = prosqa_symbolic.to_symbolic(HAND, random.Random(0))
    assert ex["steps"] == ["3", "5", "7"] and ex["answer"] == "7"
    assert ex["question"].startswith("0 2 | 1 3 | 1 4 | 3 5 | 4 5 | 4 6 | 5 7 | 2 8 [Q] ")
    assert ex["question"].endswith(" [R] 1") and ex["question"].split(" [Q] ")[1].split(" [R] ")[0] in ("7 8", "8 7")
    assert prosqa_symbolic.check_example(ex) == [] and detect_task(ex).name == "prosqa-symbolic" and detect_task(HAND).name == "prosqa"


@pytest.mark.parametrize("change, message", [
    (lambda ex: ex.update(answer="8"), "answer must be the target"),
    (lambda ex: ex.update(neighbor_k={"0": [1], "1": [3], "2": [5], "3": [7]}), "neighbor_k"),
    (lambda ex: ex.update(steps=["3", "6", "7"]), "step 2"),
    (lambda ex: ex.update(question=ex["question"].replace("[R] 1", "[R] 0")), "question must end with"),
])  # fmt: skip
def test_checker_names_what_is_wrong(change, message):
    ex = prosqa_symbolic.to_symbolic(HAND, random.Random(0))
    change(ex)
    assert any(message in problem for problem in prosqa_symbolic.check_example(ex))


@pytest.mark.slow
@pytest.mark.parametrize("split, count, digest", [
    ("valid", 257, "4e4c33b3ee748b898072b1bd3da954e62b0ca88e8f27d5aceff9cdd536f1ce26"),
    ("test", 419, "08f2af85572fa0b83d6fb2f68218ab4c2c47caf97261fbf050225de1f994f08b"),
])  # fmt: skip
def test_official_files_convert_to_the_anchors_subset_and_neighbor_k(split, count, digest):
    """The anchor's files hold 257 and 419 examples; `digest` is the sha256 of their neighbor_k lists
    (each depth sorted), computed from its data/prosqa_{split}_graph_4_coconut.json."""
    official = load_examples(shared_file("data", "prosqa", f"prosqa_{split}.json"))
    converted = prosqa_symbolic.convert(official, 0, split)
    assert len(converted) == count and all(prosqa_symbolic.check_example(ex) == [] for ex in converted)
    levels = [{k: sorted(v) for k, v in ex["neighbor_k"].items()} for ex in converted]
    assert hashlib.sha256(json.dumps(levels, sort_keys=True).encode()).hexdigest() == digest
    if split == "test":  # the anchor's first two test examples, lists in its order
        assert converted[0]["neighbor_k"] == {"0": [1], "1": [9, 5], "2": [18, 14], "3": [21]}
        assert converted[1]["neighbor_k"] == {"0": [1], "1": [4, 5], "2": [7], "3": [14], "4": [21]}


def test_the_symbolic_tokenizer_is_the_anchors_vocabulary_plus_pause(tmp_path):
    from transformers import AutoTokenizer

    tok = build_symbolic_tokenizer()
    anchor = {**{str(i): i for i in range(31)}, "<|start-latent|>": 31, "<|end-latent|>": 32, "<|latent|>": 33, "|": 34, "[Q]": 35,
              "[R]": 36, "[A]": 37, "<eos>": 38, "<|no-answer|>": 39}  # fmt: skip
    assert {t: i for t, i in tok.get_vocab().items() if i < 40} == anchor and tok.get_vocab()["<|pause|>"] == 40 and len(tok) == 41
    assert tok.encode("3 5 | 1 3 [Q] 7 8 [R] 1", add_special_tokens=True) == [38, 3, 5, 34, 1, 3, 35, 7, 8, 36, 1]
    tok.save_pretrained(tmp_path)
    assert is_symbolic_tokenizer(AutoTokenizer.from_pretrained(tmp_path))
    fmt = sequence_format(tok)
    assert fmt.extract("3 5 7 [A] 7 2 [A] 8 3") == "8" and fmt.extract("3 5 7") == ""


def anchor_cot_tokens(example, rng, vocab):
    """The anchor's get_graph_cot_dataset for one example, written out: shuffle the edges, draw the
    option order, walk neighbor_k through edges; `<eos> s t | ... [Q] o1 o2 [R] root n1 .. nL [A] target <eos>`."""
    edges = [list(e) for e in example["edges"]]
    rng.shuffle(edges)
    question = "<eos> " + "|".join(f" {u} {v} " for u, v in edges).strip() + " [Q] "
    question += f"{example['target']} {example['neg_target']}" if rng.random() < 0.5 else f"{example['neg_target']} {example['target']}"
    question += f" [R] {example['root']}"
    node, chain = example["root"], ""
    for i in range(1, 10):
        if str(i) in example["neighbor_k"]:
            node = rng.choice([n for n in example["neighbor_k"][str(i)] if [node, n] in edges])
            chain += f" {node}"
    chain += f" [A] {example['target']} <eos>"
    return [vocab[t] for t in (question + chain).split()], len(question.split())


def test_cot_and_no_cot_see_the_anchors_sequences_for_the_same_draws(symbolic_dir):
    tok = build_symbolic_tokenizer()
    vocab = tok.get_vocab()
    examples = load_examples(symbolic_dir / "train.json")
    cot = get_method("cot", RunConfig(method="cot"), tok)
    no_cot = get_method("no-cot", RunConfig(method="no-cot"), tok)
    for seed, example in enumerate(examples[:8]):
        expected, prompt = anchor_cot_tokens(example, random.Random(seed), vocab)
        seq = cot.training_sequence(example, epoch=0, batch_index=0, batches_per_epoch=1, rng=random.Random(seed))
        assert seq.input_ids == expected and seq.labels == [IGNORE] * prompt + expected[prompt:]
        seq = no_cot.training_sequence(example, epoch=0, batch_index=0, batches_per_epoch=1, rng=random.Random(seed))
        assert seq.input_ids == expected[:prompt] + [vocab["[A]"], int(example["answer"]), vocab["<eos>"]]
    # Different draws give different views of the same example; the stored question is untouched.
    views = {tuple(cot.training_sequence(examples[0], epoch=0, batch_index=0, batches_per_epoch=1, rng=random.Random(s)).input_ids) for s in range(6)}
    assert len(views) > 1 and examples[0] == load_examples(symbolic_dir / "train.json")[0]


@pytest.mark.parametrize("supervision", ["next-node", "frontier-node"])
def test_node_supervision_trains_one_token_per_stage(supervision, symbolic_dir):
    tok = build_symbolic_tokenizer()
    vocab = tok.get_vocab()
    cfg = RunConfig(method="coconut", supervision=supervision, epochs_per_stage=1, uniform_prob=0.0)
    method = get_method("coconut", cfg, tok)
    example = load_examples(symbolic_dir / "train.json")[0]
    steps = len(example["steps"])
    for stage in range(steps + 2):
        seq = method.training_sequence(example, epoch=stage, batch_index=0, batches_per_epoch=1, rng=random.Random(stage))
        targets = [t for t in seq.labels if t != IGNORE]
        assert len(targets) == 1 and seq.labels[-1] == targets[0]  # one token, the last one
        j = min(stage, steps)
        assert seq.input_ids.count(vocab["<|latent|>"]) == j and vocab["<|start-latent|>"] not in seq.input_ids
        if j == steps:
            assert seq.input_ids[-2] == vocab["[A]"] and targets == [example["target"]]
        else:
            allowed = example["neighbor_k"][str(j + 1)] if supervision == "next-node" else prosqa_symbolic.frontier(example["edges"], example["root"], j + 1)
            assert targets[0] in allowed and seq.input_ids[-2] in (vocab["<|latent|>"], vocab[example["question"].split()[-1]])
    prompt = method.inference_prompt(example)
    assert prompt[-steps - 1 :] == [vocab["<|latent|>"]] * steps + [vocab["[A]"]] and method.generation_limit(128) == 1


def test_node_supervision_is_refused_where_it_cannot_apply(symbolic_dir):
    from cocobench.errors import CocobenchError

    tok = build_symbolic_tokenizer()
    with pytest.raises(CocobenchError, match="continuous thoughts"):
        get_method("cot", RunConfig(method="cot", supervision="next-node"), tok)
    language = get_method("coconut", RunConfig(method="coconut", supervision="next-node"), tok)
    with pytest.raises(CocobenchError, match="neighbor_k"):
        language.check_data("prosqa-symbolic", [HAND])


def test_a_coconut_model_that_says_the_target_scores_one_and_choice_is_counted(symbolic_dir):
    """Node supervision answers right after the prompt's [A]: a stub that says the target after it is
    right on every example, one saying the other option is wrong but still names an option."""
    model, tok = build_model_and_tokenizer("gpt2-tiny", seed=0, symbolic=True)
    examples = load_examples(symbolic_dir / "test.json")
    method = get_method("coconut", RunConfig(method="coconut", supervision="next-node"), tok)
    for field, expect in (("target", "right"), ("neg_target", "other")):
        scripts = {tuple(method.inference_prompt(e)): [e[field], 38] for e in examples}
        result = evaluate(gold_speaker(model, scripts), tok, method, examples, k=None, max_new_tokens=128, batch_size=1)
        assert [s["choice"] for s in result.samples] == [expect] * len(examples)
        assert result.metrics["choice_named"] == len(examples) and result.metrics["choice_accuracy"] == (1.0 if expect == "right" else 0.0)
        assert result.metrics["accuracy"] == (1.0 if expect == "right" else 0.0)
        # one token after the L thoughts: generated tokens = thoughts + 1, as the anchor generates one
        assert all(s["generated_tokens"] == len(e["steps"]) + 1 for s, e in zip(result.samples, examples))
    assert result.metrics["choice_p"] < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("method, extra", [
    ("cot", []), ("no-cot", []), ("icot", []), ("pause", []), ("coconut", ["--supervision", "next-node"]),
    ("coconut", []), ("pause-as-thought", ["--supervision", "next-node"]), ("codi", ["--codi-thoughts", "2"]),
])  # fmt: skip
def test_every_method_trains_and_evaluates_on_symbolic_prosqa(method, extra, symbolic_dir, tmp_path):
    from typer.testing import CliRunner

    from cocobench.cli import app
    from cocobench.results import read_results

    out = tmp_path / "run"
    args = ["run", "--method", method, *extra, "--data", str(symbolic_dir), "--model", "gpt2-tiny", "--epochs", "1", "--batch-size", "8",
            "--grad-accum", "1", "--max-latent-stage", "2", "--epochs-per-stage", "1", "--max-new-tokens", "12", "--out", str(out), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = read_results(out / "results.json")
    assert results["task"] == "prosqa-symbolic" and results["metrics"]["total"] == 6
    assert all(s["choice"] in ("right", "other", "neither") for s in results["samples"]) and "choice_p" in results["metrics"]
