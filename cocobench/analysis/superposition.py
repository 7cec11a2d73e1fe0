"""The superposition analyses of "Reasoning by Superposition" (Zhu et al. 2025, Section 5 and the
authors' notebook) on symbolic ProsQA: does a continuous thought hold the whole search frontier?

For thought i (i = 1..k) of one example:
- **Thought vs node embeddings.** The inner product of the i-th continuous thought (the vector fed
  back as the next input embedding) with every graph node's token embedding, grouped as the anchor
  groups them: `frontier` (a node at the end of an i-edge walk from the root), `optimal` (a frontier
  node on a shortest root-to-target path: `neighbor_k[i]`), `reachable` (the end of a walk of at most
  i edges, the root included) and `other` (every other node of the graph). optimal ⊂ frontier ⊂
  reachable; `other` is disjoint from them. Raw inner products are the anchor's measure; `mass` is
  the normalised one: the softmax of the inner products over the graph's nodes (with tied embeddings
  these are the LM head's logits), summed per group, so a group's mass is comparable across models.
- **Attention to edges.** In the forward pass that produces thought i (its query is the position
  before the i-th latent: the root for i = 1), the attention each layer and head pays to every edge
  `s t |`, summed over the edge's tokens and averaged over the edges of a group, grouped by the edge's
  source: in the frontier of i-1 edges (the edges that expand the search), reachable within i-1, or
  other; `optimal` edges expand the frontier into `neighbor_k[i]`. As in the notebook, the last edge
  (followed by `[Q]`, not `|`) is left out.
- **The control: CoT.** A language chain's step i is the last-layer state that writes its i-th node
  (greedy decoding of the model's own chain, up to `[A]`); `written` is the node it wrote. A chain that
  commits to one path puts its mass on that node, where a thought spreads it over the frontier.

Across examples, each thought's groups are compared with a paired sign test (exact, two-sided): per
example, the mean inner product of the frontier minus that of the other nodes (and the mean attention
on frontier edges minus other edges); p < 0.01 says the frontier stands above the rest.
The thoughts are recomputed here with one full forward per thought (eager attention, so the weights
can be read); a test checks they equal the engine's cached generation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cocobench.errors import CocobenchError
from cocobench.examples import Example

NODE_GROUPS = ("optimal", "frontier", "reachable", "other")
EDGE_GROUPS = ("optimal", "frontier", "reachable", "other")
CONTROL_GROUP = "written"  # CoT only: the node the chain writes at step i


# ---------------------------------------------------------------------------------------------------
# The graph's groups (no model involved)


@dataclass(frozen=True)
class Levels:
    """Per i = 0..depth: the nodes at the end of an i-edge walk from the root (`walks[i]`) and those
    within i edges (`within[i]`); `nodes` are the graph's nodes (every node of an edge)."""

    nodes: frozenset[int]
    walks: list[frozenset[int]]
    within: list[frozenset[int]]


def levels(edges: Sequence[Sequence[int]], root: int, depth: int) -> Levels:
    children: dict[int, list[int]] = {}
    for u, v in edges:
        children.setdefault(u, []).append(v)
    walks = [frozenset({root})]
    within = [frozenset({root})]
    for _ in range(depth):
        walks.append(frozenset(child for node in walks[-1] for child in children.get(node, ())))
        within.append(within[-1] | walks[-1])
    nodes = frozenset(n for edge in edges for n in edge) | {root}
    return Levels(nodes, walks, within)


def node_groups(lv: Levels, optimal: Sequence[int], i: int) -> dict[str, list[int]]:
    """The anchor's node groups for thought i (sorted node ids; a group may be empty)."""
    frontier = lv.walks[i]
    return {
        "optimal": sorted(frontier & set(optimal)),
        "frontier": sorted(frontier),
        "reachable": sorted(lv.within[i]),
        "other": sorted(lv.nodes - lv.within[i]),
    }


def edge_groups(edges: Sequence[Sequence[int]], lv: Levels, optimal: Sequence[int], i: int) -> dict[str, list[int]]:
    """Indices of `edges` per group for the pass that produces thought i: by the source's place in
    the search after i-1 steps (`optimal`: a frontier edge into `neighbor_k[i]`)."""
    frontier, reached, best = lv.walks[i - 1], lv.within[i - 1], set(optimal)
    groups: dict[str, list[int]] = {name: [] for name in EDGE_GROUPS}
    for index, (source, target) in enumerate(edges):
        if source in frontier:
            groups["frontier"].append(index)
            if target in best:
                groups["optimal"].append(index)
        if source in reached:
            groups["reachable"].append(index)
        else:
            groups["other"].append(index)
    return groups


# ---------------------------------------------------------------------------------------------------
# The model's states


@dataclass
class Trace:
    """One example through the model: the token ids (prompt, then what it wrote), the input embeddings
    fed, the query position and state of each step, the attention rows of each step's pass (per layer:
    heads x keys) and, for a chain, the node each step wrote."""

    ids: list[int]
    states: torch.Tensor  # (k, C): thought i, or the state that writes chain node i
    attentions: list[torch.Tensor]  # per step: (layers, heads, keys) from its query position
    written: list[int | None]


def eager_attention(model) -> None:
    """The fused attention kernels return no weights; the eager path computes the same softmax."""
    if getattr(model.config, "_attn_implementation", "eager") != "eager":
        model.set_attn_implementation("eager")


def _forward(model, embeds: torch.Tensor):
    out = model(inputs_embeds=embeds, output_hidden_states=True, output_attentions=True)
    last = out.hidden_states[-1][0, -1]  # after the final layer norm: what the LM head reads and Coconut feeds back
    attention = torch.stack([layer[0, :, -1, :] for layer in out.attentions])  # (layers, heads, keys)
    return last, attention, out.logits[0, -1]


def thought_trace(model, prompt: list[int], latent_id: int) -> Trace:
    """Coconut-style thoughts, one full forward per thought: the state at the position before each
    `<|latent|>` becomes that latent's input embedding (through CODI's projection where it has one)."""
    from cocobench.engine import thought_projection

    project = thought_projection(model)
    embeds = model.get_input_embeddings()(torch.tensor([prompt], device=model.device)).detach().clone()
    latents = [position for position, token in enumerate(prompt) if token == latent_id]
    states, attentions = [], []
    with torch.inference_mode():
        for position in latents:
            last, attention, _ = _forward(model, embeds[:, :position])
            fed = project(last) if project is not None else last
            embeds[0, position] = fed
            states.append(fed)
            attentions.append(attention)
    if not states:
        raise CocobenchError("the prompt has no <|latent|> slots: nothing to analyse; pass --k of 1 or more")
    return Trace(list(prompt), torch.stack(states), attentions, [None] * len(states))


def chain_trace(model, prompt: list[int], *, node_ids: dict[int, int], stop_ids: set[int], max_steps: int) -> Trace:
    """A language chain decoded greedily: step i is the state whose next token is the chain's i-th node
    (the steps end at the first token that is not a node: `[A]`, `<eos>`)."""
    ids = list(prompt)
    node_of = {token: node for node, token in node_ids.items()}
    states, attentions, written = [], [], []
    embed = model.get_input_embeddings()
    with torch.inference_mode():
        for _ in range(max_steps):
            last, attention, logits = _forward(model, embed(torch.tensor([ids], device=model.device)))
            token = int(logits.argmax())
            if token in stop_ids or token not in node_of:
                break
            states.append(last)
            attentions.append(attention)
            written.append(node_of[token])
            ids.append(token)
    hidden = model.get_input_embeddings().weight.shape[1]
    return Trace(ids, torch.stack(states) if states else torch.zeros(0, hidden), attentions, written)


def edge_positions(prompt: list[int], node_ids: dict[int, int], separator: int, query: int) -> list[list[int]]:
    """Per edge of the prompt (in its order): the positions of `s t |`; the edge before `[Q]` is left
    out, as the anchor's notebook does (it has no `|` of its own)."""
    node_tokens = set(node_ids.values())
    end = prompt.index(query)
    edges, position = [], 0
    while position < end:
        if prompt[position] in node_tokens and position + 2 < end and prompt[position + 1] in node_tokens and prompt[position + 2] == separator:
            edges.append([position, position + 1, position + 2])
            position += 3
        else:
            position += 1
    return edges


# ---------------------------------------------------------------------------------------------------
# One example


def analyse_example(loaded, example: Example, *, k: int | None) -> dict[str, Any]:
    """The per-thought groups, inner products, masses and edge attention of one example."""
    from cocobench.tasks.prosqa_symbolic import parse_question

    tokenizer, method, model = loaded.tokenizer, loaded.method, loaded.model
    node_ids = _node_ids(tokenizer)
    prompt = method.inference_prompt(example, k=k)
    if method.thought_feed == "hidden":
        trace = thought_trace(model, prompt, method.ids.latent)
    else:
        stops = {tokenizer.convert_tokens_to_ids(t) for t in ("[A]", "<eos>")}
        trace = chain_trace(model, prompt, node_ids=node_ids, stop_ids=stops, max_steps=len(example["neighbor_k"]) + 2)
    all_edges, _, root = parse_question(example["question"])
    positions = edge_positions(prompt, node_ids, tokenizer.convert_tokens_to_ids("|"), tokenizer.convert_tokens_to_ids("[Q]"))
    edges = all_edges[: len(positions)]  # attention: the edges with a `|` (the last one has none); the graph keeps all
    n = trace.states.shape[0]
    lv = levels(all_edges, root, n)
    embeddings = model.get_input_embeddings().weight
    graph_nodes = sorted(lv.nodes)
    node_rows = torch.tensor([node_ids[node] for node in graph_nodes], device=embeddings.device)
    steps = []
    for i in range(1, n + 1):
        optimal = example["neighbor_k"].get(str(i), [])
        with torch.inference_mode():
            products = (embeddings[node_rows] @ trace.states[i - 1].to(embeddings.dtype)).float().cpu()
        mass = torch.softmax(products, 0)
        score = dict(zip(graph_nodes, products.tolist()))
        share = dict(zip(graph_nodes, mass.tolist()))
        groups = node_groups(lv, optimal, i)
        if trace.written[i - 1] is not None:
            groups[CONTROL_GROUP] = [trace.written[i - 1]]
        attention = trace.attentions[i - 1].float().cpu()  # (layers, heads, keys)
        per_edge = torch.stack([attention[:, :, p].sum(-1) for p in positions], -1) if positions else torch.zeros(*attention.shape[:2], 0)
        edge_sets = edge_groups(edges, lv, optimal, i)
        steps.append({
            "thought": i,
            "groups": groups,
            "inner_product": {name: _mean([score[v] for v in nodes]) for name, nodes in groups.items()},
            "mass": {name: sum(share[v] for v in nodes) if nodes else None for name, nodes in groups.items()},
            "edges": {name: len(indices) for name, indices in edge_sets.items()},
            "attention": {name: _rounded(per_edge[:, :, indices].mean(-1).tolist()) if indices else None for name, indices in edge_sets.items()},  # layers x heads
            "node_scores": {str(v): round(score[v], 6) for v in graph_nodes},
        })
    return {"thoughts": n, "written": [w for w in trace.written if w is not None], "steps": steps}


def _rounded(rows: list[list[float]]) -> list[list[float]]:
    return [[round(value, 6) for value in row] for row in rows]


def _node_ids(tokenizer) -> dict[int, int]:
    """Node id -> token id: every node of symbolic ProsQA is one token ("0".."30")."""
    ids = {}
    for node in range(64):
        token = tokenizer.convert_tokens_to_ids(str(node))
        if token is None or token == tokenizer.unk_token_id:
            break
        ids[node] = token
    return ids


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# ---------------------------------------------------------------------------------------------------
# Across examples


def sign_test(differences: Sequence[float]) -> dict[str, Any]:
    """Exact two-sided sign test of paired differences against 0 (ties dropped)."""
    from cocobench.stats import mcnemar_exact

    above = sum(1 for d in differences if d > 0)
    below = sum(1 for d in differences if d < 0)
    return {"pairs": len(differences), "above": above, "below": below, "p": mcnemar_exact(below, above),
            "mean_difference": _mean(list(differences))}


def summarise(records: list[dict[str, Any]], layers: int, heads: int) -> list[dict[str, Any]]:
    """Per thought: each group's mean (over examples) of inner product, mass and edge attention (per
    layer, heads summed, and per head), and the paired sign tests frontier vs other."""
    depth = max((r["thoughts"] for r in records), default=0)
    rows = []
    for i in range(1, depth + 1):
        steps = [r["steps"][i - 1] for r in records if r["thoughts"] >= i]
        names = [name for name in (*NODE_GROUPS, CONTROL_GROUP) if any(s["inner_product"].get(name) is not None for s in steps)]
        row: dict[str, Any] = {"thought": i, "examples": len(steps)}
        row["inner_product"] = {name: _summary([s["inner_product"].get(name) for s in steps]) for name in names}
        row["mass"] = {name: _summary([s["mass"].get(name) for s in steps]) for name in names}
        row["attention_heads_summed"] = {
            name: [_summary([sum(s["attention"][name][layer]) for s in steps if s["attention"][name] is not None]) for layer in range(layers)]
            for name in EDGE_GROUPS
        }
        row["attention_per_head"] = {
            name: [[_mean([s["attention"][name][layer][h] for s in steps if s["attention"][name] is not None]) for h in range(heads)] for layer in range(layers)]
            for name in EDGE_GROUPS
        }
        row["tests"] = {
            "inner_product_frontier_vs_other": sign_test(_paired(steps, "inner_product", "frontier", "other")),
            "inner_product_optimal_vs_other": sign_test(_paired(steps, "inner_product", "optimal", "other")),
            **{f"attention_layer{layer + 1}_frontier_vs_other": sign_test([
                sum(s["attention"]["frontier"][layer]) - sum(s["attention"]["other"][layer])
                for s in steps if s["attention"]["frontier"] is not None and s["attention"]["other"] is not None]) for layer in range(layers)},
        }
        if CONTROL_GROUP in names:
            row["tests"]["inner_product_written_vs_other_frontier"] = sign_test([
                s["inner_product"][CONTROL_GROUP] - o for s in steps
                if (o := _mean([float(s["node_scores"][str(v)]) for v in s["groups"]["frontier"] if v not in s["groups"][CONTROL_GROUP]])) is not None])
        rows.append(row)
    return rows


def _paired(steps, measure: str, a: str, b: str) -> list[float]:
    return [s[measure][a] - s[measure][b] for s in steps if s[measure].get(a) is not None and s[measure].get(b) is not None]


def _summary(values: Sequence[float | None]) -> dict[str, Any]:
    kept = [v for v in values if v is not None]
    if not kept:
        return {"n": 0, "mean": None, "std": None}
    mean = sum(kept) / len(kept)
    std = math.sqrt(sum((v - mean) ** 2 for v in kept) / (len(kept) - 1)) if len(kept) > 1 else 0.0
    return {"n": len(kept), "mean": mean, "std": std}


# ---------------------------------------------------------------------------------------------------
# Files: CSV and figures


def examples_csv(records: list[dict[str, Any]]) -> str:
    """One row per example, thought and node group."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["idx", "thought", "group", "nodes", "inner_product", "mass"])
    for record in records:
        for step in record["steps"]:
            for name, nodes in step["groups"].items():
                writer.writerow([record["idx"], step["thought"], name, len(nodes), _cell(step["inner_product"][name]), _cell(step["mass"][name])])
    return buffer.getvalue()


def summary_csv(summary: list[dict[str, Any]]) -> str:
    """One row per thought and group: node measures, then edge attention per layer (heads summed)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["thought", "measure", "group", "layer", "n", "mean", "std"])
    for row in summary:
        for measure in ("inner_product", "mass"):
            for name, s in row[measure].items():
                writer.writerow([row["thought"], measure, name, "", s["n"], _cell(s["mean"]), _cell(s["std"])])
        for name, per_layer in row["attention_heads_summed"].items():
            for layer, s in enumerate(per_layer, 1):
                writer.writerow([row["thought"], "attention_per_edge", name, layer, s["n"], _cell(s["mean"]), _cell(s["std"])])
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


COLORS = {"other": "C0", "reachable": "C1", "frontier": "C2", "optimal": "C3", CONTROL_GROUP: "C4"}
LABELS = {"other": "not reachable", "reachable": "reachable", "frontier": "frontier", "optimal": "optimal", CONTROL_GROUP: "written (CoT)"}


def plots(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """thoughts.png (per thought, the distribution of the nodes' inner products in each group, the
    anchor's figure; the legend's means are over examples) and attention.png (per layer, mean attention per edge of each group vs thought,
    with a ±std bar over examples); none without matplotlib."""
    from cocobench.analysis.plots import optional_figure, save_png

    records, summary = report["records"], report["summary"]
    if not summary:
        return []
    made = optional_figure(len(summary), height=3.6, width=3.6 * len(summary) + 0.6)
    if made is None:
        return []
    figure, axes = made
    for axis, row in zip(axes, summary):
        i = row["thought"]
        values = {name: [r["steps"][i - 1]["node_scores"][str(v)] for r in records if r["thoughts"] >= i for v in r["steps"][i - 1]["groups"].get(name, ())]
                  for name in row["inner_product"]}  # every node's value, pooled over examples, as the anchor draws them
        finite = [v for vs in values.values() for v in vs]
        bins = 30 if not finite or min(finite) == max(finite) else [min(finite) + (max(finite) - min(finite)) * b / 30 for b in range(31)]
        for name, vs in values.items():
            axis.hist(vs, bins=bins, alpha=0.45, density=True, color=COLORS[name], label=f"{LABELS[name]} ({row['inner_product'][name]['mean']:.2f})")
        p = row["tests"]["inner_product_frontier_vs_other"]["p"]
        axis.set(title=f"{report['step_name']} {i}: frontier > other, p={p:.1g}", ylabel="density (each group sums to 1)")
        axis.legend(fontsize="small", title="group (mean)", title_fontsize="small")
    figure.supxlabel("inner product of the state with a node's token embedding")
    figure.suptitle(report["caption"], fontsize="medium")
    written = [save_png(figure, out_dir / "thoughts.png")]
    layers = len(summary[0]["attention_heads_summed"]["frontier"])
    figure, axes = optional_figure(layers, height=3.6, width=4.2 * layers + 0.6)
    xs = [row["thought"] for row in summary]
    for layer, axis in enumerate(axes):
        for offset, name in enumerate(EDGE_GROUPS):
            stats = [row["attention_heads_summed"][name][layer] for row in summary]
            points = [(x + 0.06 * (offset - 1.5), s["mean"], s["std"]) for x, s in zip(xs, stats) if s["mean"] is not None]
            if points:
                axis.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], fmt="o-", capsize=3, color=COLORS[name], label=LABELS[name] + " edges")
        axis.set(title=f"layer {layer + 1}: attention per edge (heads summed)", xlabel=f"{report['step_name']} i (the pass that produces it)", ylabel="attention weight per edge", xticks=xs)
        axis.legend(fontsize="small")
    figure.suptitle(report["caption"], fontsize="medium")
    written.append(save_png(figure, out_dir / "attention.png"))
    return written


# ---------------------------------------------------------------------------------------------------
# --show: one example's graph with its scores


def case_study(example: Example, record: dict[str, Any]):
    """A rich Table of one example: each node, its BFS depth, whether it is on a shortest path, and its
    inner product with each thought (bold: in that thought's frontier; * optimal)."""
    from rich.table import Table

    from cocobench.tasks.prosqa_symbolic import parse_question

    edges, options, root = parse_question(example["question"])
    lv = levels(edges, root, len(record["steps"]))
    depth = {node: d for d in range(len(lv.walks) - 1, -1, -1) for node in lv.walks[d]}
    on_path = {int(v) for nodes in example["neighbor_k"].values() for v in nodes}
    table = Table(title=f"example {record['idx']}: root {root}, options {options[0]} {options[1]}, answer {example['answer']}"
                        + (f"; the chain wrote {' '.join(map(str, record['written']))}" if record["written"] else ""))
    for name in ("node", "walk depth", "on a shortest path", *(f"step {s['thought']}" for s in record["steps"])):
        table.add_column(name, justify="right")
    for node in sorted(lv.nodes, key=lambda v: (depth.get(v, 99), v)):
        cells = []
        for step in record["steps"]:
            value = f"{step['node_scores'][str(node)]:.2f}"
            if node in step["groups"]["frontier"]:
                value = f"[bold]{value}{'*' if node in step['groups']['optimal'] else ''}[/]"
            cells.append(value)
        table.add_row(str(node), str(depth.get(node, "-")), "yes" if node in on_path else "", *cells)
    return table


# ---------------------------------------------------------------------------------------------------
# The command


def run(checkpoint: Path, data: Path, *, k: int | None, out: Path | None, overwrite: bool, overrides: dict[str, Any],
        show: int | None = None) -> tuple[dict[str, Any], list[Example]]:
    """`cocobench analyze superposition`: check, load once, trace every example, write
    OUT/superposition.json, examples.csv, summary.csv and the PNGs; returns (report, examples)."""
    from cocobench.analysis.ksweep import limit_note
    from cocobench.analysis.plots import PLOT_HINT
    from cocobench.io import atomic_write_json, atomic_write_text, directory_lock, file_fingerprint, holds_files
    from cocobench.progress import counter, log, quiet_libraries
    from cocobench.checkpoint_eval import check_evaluation_fits, limited, load_for_evaluation, read_test_examples, require_checkpoint_dir
    from cocobench.tasks.prosqa_symbolic import is_symbolic

    quiet_libraries()
    if k is not None and k < 1:
        raise CocobenchError(f"--k must be 1 or more thoughts, got {k}")
    checkpoint = require_checkpoint_dir(checkpoint)
    test_file, all_examples = read_test_examples(data)
    odd = next((i for i, example in enumerate(all_examples) if not is_symbolic(example) or "neighbor_k" not in example), None)
    if odd is not None:
        raise CocobenchError(f"{test_file}: example {odd} is not symbolic ProsQA with neighbor_k; make such data with "
                             "`cocobench gen prosqa --format symbolic` or `cocobench data convert FILE --out DIR`")
    loaded = load_for_evaluation(checkpoint, overrides)
    cfg = loaded.cfg
    if loaded.method.thought_feed != "hidden" and cfg.method != "cot":
        raise CocobenchError(f"method '{cfg.method}' has neither continuous thoughts nor a language chain to analyse; pass a checkpoint of coconut, codi or cot")
    if loaded.method.thought_feed != "hidden" and k is not None:
        raise CocobenchError("--k sets the number of continuous thoughts; a CoT checkpoint decodes its own chain, so leave --k out")
    run_name = checkpoint.parent.parent.name or checkpoint.name
    out_dir = Path(out) if out else Path("runs") / f"superposition-{run_name}-{test_file.stem}"
    if not overwrite and holds_files(out_dir):
        raise CocobenchError(f"--out '{out_dir}' already holds files; pass --overwrite to replace them, or choose another --out")
    examples = limited(all_examples, cfg)
    if show is not None and not 0 <= show < len(examples):
        raise CocobenchError(f"--show {show} is outside the {len(examples)} examples analysed (0..{len(examples) - 1})")
    check_evaluation_fits(loaded, examples, (k,))
    eager_attention(loaded.model)
    loaded.model.eval()
    with directory_lock(out_dir):
        records = []
        with counter("superposition", len(examples), cfg.quiet) as advance:
            for idx, example in enumerate(examples):
                records.append({"idx": idx, **analyse_example(loaded, example, k=k)})
                advance(1)
        model_config = loaded.model.config
        step_name = "thought" if loaded.method.thought_feed == "hidden" else "CoT step"
        report = {
            "analysis": "superposition", "run": run_name, "checkpoint": str(checkpoint), "method": cfg.method,
            "supervision": getattr(cfg, "supervision", None), "test_file": str(test_file), "test_fingerprint": file_fingerprint(test_file),
            "examples": len(examples), "k": k, "step_name": step_name,
            "caption": f"{run_name} ({cfg.method}, {cfg.model}) on {test_file}, {len(examples)} examples",
            "summary": summarise(records, model_config.num_hidden_layers, model_config.num_attention_heads),
            "records": records,
        }
        atomic_write_json(out_dir / "superposition.json", report, indent=None)  # per-node scores of every example: compact
        atomic_write_text(out_dir / "examples.csv", examples_csv(records))
        atomic_write_text(out_dir / "summary.csv", summary_csv(report["summary"]))
        figures = plots(report, out_dir)
    for note in filter(None, [limit_note(overrides, len(examples), len(all_examples)), None if figures else f"wrote no plots: install matplotlib ({PLOT_HINT})"]):
        log(f"note: {note}", cfg.quiet)
    log(f"superposition analysis of {run_name} -> {out_dir}", cfg.quiet)
    return report, examples
