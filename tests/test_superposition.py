"""`analyze superposition`: the anchor's node and edge groups on a hand graph, a stub model whose
thoughts are the frontier by construction (so every group's score is known in advance), the thoughts
recomputed here against the engine's, and the command end to end on trained checkpoints."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from cocobench.analysis import superposition as sp
from cocobench.cli import app
from cocobench.config import RunConfig
from cocobench.examples import write_splits
from cocobench.methods import get_method
from cocobench.tasks import prosqa_symbolic
from cocobench.tokenizer import build_symbolic_tokenizer

# root 1 -> {3, 4}; 3 -> 5; 4 -> 5; 4 -> 6; 5 -> 7 (target); 0 -> 2 -> 8 (neg_target): the shortest
# paths are 1-3-5-7 and 1-4-5-7.
EDGES = [[0, 2], [1, 3], [1, 4], [3, 5], [4, 5], [4, 6], [5, 7], [2, 8]]


def hand_example(edges=EDGES) -> dict:
    return {"question": prosqa_symbolic.render_question(edges, (7, 8), 1), "steps": ["3", "5", "7"], "answer": "7",
            "edges": edges, "root": 1, "target": 7, "neg_target": 8,
            "neighbor_k": prosqa_symbolic.neighbor_k(edges, 1, 7)}


def test_node_and_edge_groups_of_a_hand_graph():
    lv = sp.levels(EDGES, 1, 3)
    assert [sorted(w) for w in lv.walks] == [[1], [3, 4], [5, 6], [7]]
    optimal = prosqa_symbolic.neighbor_k(EDGES, 1, 7)["2"]
    assert optimal == [5]
    assert sp.node_groups(lv, optimal, 2) == {"optimal": [5], "frontier": [5, 6], "reachable": [1, 3, 4, 5, 6], "other": [0, 2, 7, 8]}
    # the pass that makes thought 2 expands the frontier after one step, {3, 4}
    assert sp.edge_groups(EDGES, lv, optimal, 2) == {"optimal": [3, 4], "frontier": [3, 4, 5], "reachable": [1, 2, 3, 4, 5], "other": [0, 6, 7]}
    # thought 1's pass expands the root
    assert sp.edge_groups(EDGES, lv, [3, 4], 1)["frontier"] == [1, 2]


def test_edge_positions_skip_the_edge_before_the_question_mark():
    tok = build_symbolic_tokenizer()
    method = get_method("coconut", RunConfig(method="coconut", supervision="next-node"), tok)
    prompt = method.inference_prompt(hand_example())
    node_ids = sp._node_ids(tok)
    positions = sp.edge_positions(prompt, node_ids, tok.convert_tokens_to_ids("|"), tok.convert_tokens_to_ids("[Q]"))
    assert len(positions) == len(EDGES) - 1
    for (s, t), (ps, pt, bar) in zip(EDGES, positions):
        assert (prompt[ps], prompt[pt], prompt[bar]) == (node_ids[s], node_ids[t], tok.convert_tokens_to_ids("|"))


class FrontierModel(torch.nn.Module):
    """A stub whose i-th thought is, by construction, 1 on every frontier node's one-hot embedding plus
    2 more on the optimal ones, and whose attention from the thought's query falls on the tokens of the
    edges leaving the frontier: every group's inner product and attention is known in advance."""

    def __init__(self, tok, example, prompt):
        super().__init__()
        vocab = len(tok.get_vocab())
        self.embed = torch.nn.Embedding(vocab, vocab)
        self.embed.weight.data = torch.eye(vocab)
        self.config = SimpleNamespace(n_layer=1, n_head=2, _attn_implementation="eager")
        self.first_latent = prompt.index(tok.convert_tokens_to_ids("<|latent|>"))
        self.lv = sp.levels(example["edges"], example["root"], 4)
        self.example, self.prompt, self.node_ids = example, prompt, sp._node_ids(tok)
        self.bar, self.query = tok.convert_tokens_to_ids("|"), tok.convert_tokens_to_ids("[Q]")

    @property
    def device(self):
        return torch.device("cpu")

    def get_input_embeddings(self):
        return self.embed

    def forward(self, inputs_embeds, output_hidden_states, output_attentions):
        length = inputs_embeds.shape[1]
        i = length - self.first_latent + 1  # this pass makes thought i
        hidden = torch.zeros(1, length, self.embed.weight.shape[0])
        for node in self.lv.walks[i]:
            hidden[0, -1, self.node_ids[node]] += 1.0
        for node in self.example["neighbor_k"].get(str(i), []):
            hidden[0, -1, self.node_ids[node]] += 2.0
        attention = torch.zeros(1, 2, length, length)
        keys = [p for (s, _), ps in zip(self.example["edges"], sp.edge_positions(self.prompt, self.node_ids, self.bar, self.query))
                if s in self.lv.walks[i - 1] for p in ps]
        attention[0, :, -1, keys] = 1.0 / len(keys)
        return SimpleNamespace(hidden_states=(hidden,), attentions=(attention,), logits=torch.zeros(1, length, 3))


def test_a_model_whose_thoughts_are_the_frontier_scores_as_built():
    tok = build_symbolic_tokenizer()
    method = get_method("coconut", RunConfig(method="coconut", supervision="next-node"), tok)
    example = hand_example()
    model = FrontierModel(tok, example, method.inference_prompt(example))
    record = sp.analyse_example(SimpleNamespace(tokenizer=tok, method=method, model=model), example, k=None)
    assert record["thoughts"] == 3
    step2 = record["steps"][1]
    assert step2["groups"]["frontier"] == [5, 6] and step2["groups"]["optimal"] == [5]
    assert step2["inner_product"] == {"optimal": 3.0, "frontier": 2.0, "reachable": pytest.approx(4 / 5), "other": 0.0}
    # attention: each frontier edge (sources 3 and 4: edges 3, 4, 5, three tokens each) gets 3/9 per head
    assert step2["attention"]["frontier"] == [[pytest.approx(1 / 3)] * 2]
    assert step2["attention"]["other"] == [[0.0, 0.0]]
    masses = step2["mass"]
    assert masses["other"] + masses["reachable"] == pytest.approx(1.0) and masses["optimal"] > masses["frontier"] / 2
    summary = sp.summarise([{"idx": j, **record} for j in range(12)], layers=1, heads=2)
    test = summary[1]["tests"]["inner_product_frontier_vs_other"]
    assert (test["above"], test["below"], test["pairs"]) == (12, 0, 12) and test["p"] < 0.001
    assert summary[1]["attention_heads_summed"]["frontier"][0]["mean"] == pytest.approx(2 / 3)


def test_sign_test_is_two_sided_and_drops_ties():
    assert sp.sign_test([1.0, -1.0, 0.0])["p"] == 1.0
    assert sp.sign_test([-1.0] * 10)["p"] == pytest.approx(2 / 1024)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A symbolic data directory, and tiny Coconut (next-node) and CoT runs trained on it for two epochs."""
    root = tmp_path_factory.mktemp("superposition")
    splits = prosqa_symbolic.generate_splits(seed=0, sizes={"train": 32, "valid": 4, "test": 5})
    write_splits(root / "data", splits, {"generator": "prosqa-symbolic", "seed": 0})
    runs = {}
    for name, method, model, extra in (("coconut", "coconut", "gpt2-tiny", ["--supervision", "next-node"]), ("cot", "cot", "gpt2-tiny", []),
                                       ("no-cot", "no-cot", "gpt2-tiny", []), ("coconut-llama", "coconut", "llama-tiny", ["--supervision", "next-node"])):
        out = root / name
        args = ["run", "--method", method, *extra, "--data", str(root / "data"), "--model", model, "--epochs", "2", "--batch-size", "8",
                "--max-latent-stage", "2", "--epochs-per-stage", "1", "--max-new-tokens", "8", "--out", str(out), "-q"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs[name] = out / "checkpoints" / "best"
    return root, runs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coconut", "coconut-llama"])
def test_recomputed_thoughts_equal_the_engines(name, trained):
    from cocobench.engine import generate
    from cocobench.examples import load_examples
    from cocobench.checkpoint_eval import load_for_evaluation
    from cocobench.tokenizer import token_ids

    root, runs = trained
    loaded = load_for_evaluation(runs[name], {"quiet": True})
    sp.eager_attention(loaded.model)
    for example in load_examples(root / "data" / "test.json"):
        prompt = loaded.method.inference_prompt(example)
        (generation,) = generate(loaded.model, [prompt], ids=token_ids(loaded.tokenizer), max_new_tokens=1, feed="hidden", keep_thoughts=True)
        trace = sp.thought_trace(loaded.model, prompt, loaded.method.ids.latent)
        assert trace.states.shape[0] == len(example["steps"])
        torch.testing.assert_close(trace.states, generation.trace.thoughts, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["coconut", "cot", "coconut-llama"])
def test_the_command_writes_its_numbers_and_figures(name, trained, tmp_path):
    root, runs = trained
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["analyze", "superposition", str(runs[name]), "--data", str(root / "data"), "--out", str(out), "--show", "0", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "superposition.json").read_text())
    assert report["examples"] == 5 and len(report["records"]) == 5
    assert (out / "examples.csv").read_text().startswith("idx,thought,group")
    if name.startswith("coconut"):
        layers, heads = (2, 2) if name == "coconut" else (2, 4)  # gpt2-tiny, llama-tiny: the attention table is per layer and head
        assert [len(row) for row in report["summary"][0]["attention_per_head"]["frontier"]] == [heads] * layers
        assert report["step_name"] == "thought" and [r["thoughts"] for r in report["records"]] == [len(e["steps"]) for e in json.loads((root / "data" / "test.json").read_text())]
        assert {"frontier", "other"} <= set(report["summary"][0]["inner_product"])
        pytest.importorskip("matplotlib")
        import matplotlib.image

        for png in ("thoughts.png", "attention.png"):
            assert matplotlib.image.imread(out / png).shape[0] > 300
    else:
        assert report["step_name"] == "CoT step"
        assert all(len(r["written"]) == r["thoughts"] for r in report["records"])


@pytest.mark.slow
@pytest.mark.parametrize("case, message", [
    ("no-cot", "neither continuous thoughts nor a language chain"),
    ("language", "not symbolic ProsQA"),
    ("k0", "--k must be 1 or more"),
    ("cot-k", "leave --k out"),
])  # fmt: skip
def test_wrong_inputs_get_one_line_and_exit_2(case, message, trained, tmp_path):
    from cocobench.tasks import prosqa

    root, runs = trained
    data, checkpoint, extra = root / "data", runs["coconut"], []
    if case == "no-cot":
        checkpoint = runs["no-cot"]
    elif case == "language":
        language = prosqa.generate_splits(seed=0, sizes={"train": 2, "valid": 1, "test": 2})
        write_splits(tmp_path / "language", language, {"generator": "prosqa", "seed": 0})
        data = tmp_path / "language"
    elif case == "k0":
        extra = ["--k", "0"]
    else:
        checkpoint, extra = runs["cot"], ["--k", "2"]
    result = CliRunner().invoke(app, ["analyze", "superposition", str(checkpoint), "--data", str(data), *extra, "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_ksweep_and_paths_read_symbolic_runs(trained, tmp_path):
    """The k-sweep on a symbolic Coconut model sorts its outputs into the path categories (answer-only
    outputs after node supervision's `[A]`: labels), as `analyze paths` does for a symbolic CoT run."""
    root, runs = trained
    result = CliRunner().invoke(app, ["analyze", "ksweep", str(runs["coconut"]), "--data", str(root / "data"), "--k", "0..2",
                                      "--out", str(tmp_path / "k"), "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "k" / "ksweep.json").read_text())["rows"]
    assert [row["k"] for row in rows] == [0, 1, 2]
    assert all(row["categories"]["correct_label"] + row["categories"]["incorrect_label"] == pytest.approx(1.0) for row in rows)
    result = CliRunner().invoke(app, ["analyze", "paths", str(runs["cot"].parent.parent), "--out", str(tmp_path / "p"), "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    shares = json.loads((tmp_path / "p" / "paths.json").read_text())["runs"][0]["shares"]
    assert sum(shares.values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_the_probe_reads_a_symbolic_model_one_hop_further(trained, tmp_path):
    """On symbolic data the probe extends `Q <latent>xk` (node supervision names a node at depth k+1 there,
    no [A] and no "Every"), so k = 0 probes the root's children; each value is the model's probability of
    that node's token after the recomputed thoughts."""
    from cocobench.analysis import probe
    from cocobench.checkpoint_eval import load_for_evaluation
    from cocobench.engine import latent_forward
    from cocobench.examples import load_examples
    from cocobench.tokenizer import token_ids

    root, runs = trained
    out = tmp_path / "probe"
    result = CliRunner().invoke(app, ["analyze", "probe", str(runs["coconut"]), "--data", str(root / "data"), "--k", "0..2",
                                      "--out", str(out), "--show", "0", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "probe.json").read_text())
    assert report["ks"] == [0, 1, 2] and report["depth_offset"] == 1 and report["subject_prefix"] is None
    assert {p.name for p in out.glob("*.png")} == {"parallelism.png", "value_height.png"}

    loaded = load_for_evaluation(runs["coconut"], {})
    examples = load_examples(root / "data" / "test.json")
    latent = token_ids(loaded.tokenizer).latent
    for example, record in zip(examples, report["records"]):
        graph = probe._graph_of(example)
        for k in (0, 1, 2):
            nodes = record["frontiers"][str(k)]
            assert [n["node"] for n in nodes] == probe.frontier(graph, k + 1)
            prompt = list(loaded.method.segments(example).question) + [latent] * k
            assert loaded.method.step_prompt(example, k=k) == prompt
            with torch.no_grad():
                logits = latent_forward(loaded.model, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long), latent_id=latent).logits[0, -1]
            p = torch.softmax(logits.double(), -1)
            for node in nodes:
                (token,) = loaded.method.encode(str(node["node"]))
                assert node["value"] == pytest.approx(float(p[token]), rel=1e-4)
    result = CliRunner().invoke(app, ["analyze", "probe", str(runs["cot"]), "--data", str(root / "data"), "--out", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 2 and "no thoughts to probe" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("command", [["eval"], ["analyze", "probe"], ["analyze", "ksweep"]])
def test_a_checkpoint_refuses_data_of_the_other_form(command, trained, tiny_run, tiny_prosqa, tmp_path):
    """A symbolic checkpoint cannot read text (its tokenizer fails) and a text checkpoint cannot read node
    ids (every one unknown): one line naming the two forms, exit 2, before any work."""
    from tests.helpers import FAST

    root, runs = trained
    english = tiny_run("--method", "coconut", "--epochs", "2", *FAST) / "checkpoints" / "best"
    for checkpoint, data, said in ((runs["coconut"], tiny_prosqa, "reads symbolic ProsQA (node ids) and this data is text"),
                                   (english, root / "data", "this data is symbolic ProsQA (node ids)")):
        where = ["--checkpoint", str(checkpoint)] if command == ["eval"] else [str(checkpoint)]
        result = CliRunner().invoke(app, [*command, *where, "--data", str(data), "--out", str(tmp_path / "o"), "-q"])
        assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output, result.output
        assert not (tmp_path / "o").exists()
