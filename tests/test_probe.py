"""The latent value probe: graph helpers on a hand-made graph, values on a model whose logits are known,
and teacher-forced probabilities against the training forward."""

from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import pytest
import torch

from cocobench.analysis import probe
from cocobench.config import RunConfig
from cocobench.engine import latent_forward
from cocobench.examples import load_examples, sequence_text
from cocobench.methods import get_method
from cocobench.models import build_model_and_tokenizer
from cocobench.tokenizer import token_ids

# root 0 (Tom) -> 2, 3; 2 -> 4, 5; 3 -> 5; 4 -> 6 (target); 5 is a leaf; 1 (Bob) -> 7 (neg_target)
EXAMPLE = {
    "question": "...", "steps": [], "answer": "Tom is a wumpus.",
    "idx_to_symbol": ["Tom", "Bob", "lempus", "rorpus", "gerpus", "zumpus", "wumpus", "yimpus"],
    "edges": [[0, 2], [0, 3], [2, 4], [2, 5], [3, 5], [4, 6], [1, 7]], "root": 0, "target": 6, "neg_target": 7,
}


def test_frontier_heights_and_correct_nodes_of_a_hand_made_graph():
    graph = probe._graph_of(EXAMPLE)
    assert probe.frontier(graph, 1) == [2, 3]
    assert probe.frontier(graph, 2) == [4, 5]  # 5 is reached twice, listed once
    assert probe.frontier(graph, 3) == [6]
    shortest, longest = probe.heights(graph, "shortest"), probe.heights(graph, "longest")
    assert shortest[2] == 1 and longest[2] == 2  # 2 -> 5 (a leaf) vs 2 -> 4 -> 6
    assert (shortest[0], longest[0]) == (2, 3) and shortest[6] == longest[6] == 0
    assert probe.reaches_target(graph) == [True, False, True, False, True, False, True, False]


@pytest.fixture(scope="module")
def tiny(tiny_prosqa):
    """(random gpt2-tiny, tokenizer, ProsQA test examples, coconut method with max_latent_stage 2)."""
    torch.manual_seed(0)
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", [sequence_text(e) for e in load_examples(tiny_prosqa / "train.json")], seed=0)
    model.eval()
    cfg = RunConfig(max_latent_stage=2, eval_batch_size=4)
    return model, tokenizer, load_examples(tiny_prosqa / "test.json"), get_method("coconut", cfg, tokenizer)


def with_fixed_logits(model, bias: torch.Tensor):
    """A copy of the model whose LM head ignores its input: logits = bias at every position."""
    import copy

    model = copy.deepcopy(model)
    head = torch.nn.Linear(model.config.n_embd, bias.shape[0])
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(bias)
    model.set_output_embeddings(head)
    return model


@pytest.mark.slow
def test_values_on_a_model_whose_logits_are_known(tiny):
    """With logits fixed to `bias`, a concept's value is softmax(bias) at its token, and a continuation of
    several tokens gets the product of their probabilities."""
    model, tokenizer, examples, method = tiny
    ids = token_ids(tokenizer)
    bias = torch.randn(len(tokenizer), generator=torch.Generator().manual_seed(3)) * 3
    fixed = with_fixed_logits(model, bias)
    p = torch.softmax(bias.double(), -1)
    prefix = method.inference_prompt(examples[0], k=1) + list(method.encode("Every"))
    values = probe.continuation_probabilities(fixed, ids, [prefix], [[(11,), (12, 13), (14, 14, 15)]], batch_size=2)
    assert values[0] == pytest.approx([float(p[11]), float(p[12] * p[13]), float(p[14] * p[14] * p[15])], rel=1e-5)

    loaded = SimpleNamespace(model=fixed, tokenizer=tokenizer, method=method, cfg=method.cfg)
    records = probe.probe_examples(loaded, examples[:3], (1, 2))
    for example, record in zip(examples[:3], records):
        graph = probe._graph_of(example)
        for k in (1, 2):
            nodes = record["frontiers"][str(k)]
            assert [n["node"] for n in nodes] == probe.frontier(graph, k) and nodes
            for node in nodes:
                (token,) = probe.name_tokens(method.encode, node["name"])
                assert node["value"] == pytest.approx(float(p[token]), rel=1e-5)
                assert node["correct"] == probe.reaches_target(graph)[node["node"]]


def test_teacher_forced_probabilities_equal_the_training_forward(tiny):
    """On a random model (whose logits depend on everything before), each continuation's probability is
    what latent_forward gives the whole sequence prefix + continuation, token by token."""
    model, tokenizer, examples, method = tiny
    ids = token_ids(tokenizer)
    prefixes = [method.inference_prompt(examples[i], k=k) + list(method.encode("Every")) for i, k in ((0, 1), (1, 2), (2, 0))]
    continuations = [[(20,), (21, 22)], [(23, 24, 25)], [(20,), (26, 20)]]
    values = probe.continuation_probabilities(model, ids, prefixes, continuations, batch_size=2)
    for prefix, options, got in zip(prefixes, continuations, values):
        for tokens, value in zip(options, got):
            sequence = prefix + list(tokens)
            with torch.no_grad():
                logits = latent_forward(model, torch.tensor([sequence]), torch.ones(1, len(sequence), dtype=torch.long), latent_id=ids.latent).logits[0]
            log_p = torch.log_softmax(logits.double(), -1)
            expected = sum(float(log_p[len(prefix) - 1 + i, token]) for i, token in enumerate(tokens))
            assert value == pytest.approx(math.exp(expected), rel=1e-4)


def test_summaries_curves_and_case_study():
    records = [
        {"idx": 0, "frontiers": {"1": [
            {"node": 2, "name": "lempus", "value": 0.5, "correct": True, "height_shortest": 1, "height_longest": 2},
            {"node": 3, "name": "rorpus", "value": 0.3, "correct": False, "height_shortest": 1, "height_longest": 1}]}},
        {"idx": 1, "frontiers": {"1": [
            {"node": 2, "name": "lempus", "value": 0.9, "correct": True, "height_shortest": 1, "height_longest": 2}]}},
    ]
    curves = probe.parallelism(records, 1)
    assert curves == {"top1": [0.5, 0.9], "top2": [0.8, 0.9], "top3": [0.8, 0.9]}
    assert probe.value_by_height(records, 1, "longest") == [
        {"correct": False, "height": 1, "mean_value": 0.3, "nodes": 1},
        {"correct": True, "height": 2, "mean_value": pytest.approx(0.7), "nodes": 2},
    ]
    (row,) = probe.summary(records, [1], "shortest")
    assert row["examples"] == 2 and row["frontier_mean"] == 1.5 and row["top1_mean"] == pytest.approx(0.7)
    assert row["correct_mean"] == pytest.approx(0.7) and row["incorrect_mean"] == pytest.approx(0.3)

    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(probe.case_study(EXAMPLE, records[0], [1, 2]))
    text = console.export_text()
    assert "Tom (target wumpus)" in text and "lempus  value 0.5 (height 1/2)" in text and "gerpus" in text


@pytest.mark.slow
def test_plots_are_pngs_and_absent_without_matplotlib(tmp_path, monkeypatch):
    report = {"run": "r", "ks": [1], "height": "shortest", "parallelism": {"1": {"top1": [0.2, 0.5], "top2": [0.4, 0.8], "top3": [0.4, 0.9]}},
              "summary": [{"k": 1, "value_by_height": [{"correct": True, "height": 1, "mean_value": 0.5, "nodes": 2}]}]}
    pytest.importorskip("matplotlib")
    written = probe.plots(report, tmp_path / "a")
    assert [p.name for p in written] == ["parallelism.png", "value_height.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and p.stat().st_size > 1000 for p in written)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert probe.plots(report, tmp_path / "b") == [] and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_the_probe_graph_agrees_with_the_question_text_on_the_official_files():
    """The probe reads the graph from the structured fields, the path categories from the text: one graph."""
    import json

    from cocobench.analysis.probe import _graph_of
    from cocobench.tasks.prosqa import question_graph
    from tests.conftest import shared_file

    for example in json.loads(shared_file("data", "prosqa", "prosqa_test.json").read_text()):
        graph, parsed = _graph_of(example), question_graph(example)
        edges = {(graph.names[u], graph.names[v]) for u, children in enumerate(graph.children) for v in children}
        assert edges == set(parsed.edges)
        assert (graph.names[graph.root], graph.names[graph.target]) == (parsed.root, parsed.target)
