"""Symbolic ProsQA ("Reasoning by Superposition", Zhu et al. 2025, arXiv 2505.12514): the ProsQA graphs
with every node one token and no English, the setting in which small models learn the task from scratch.

An example keeps ProsQA's task fields (`idx_to_symbol`, `edges`, `root`, `target`, `neg_target`) and adds
`neighbor_k`; its text fields are written in node ids:

    question  "0 2 | 1 3 | ... | 14 16 [Q] 16 13 [R] 1"   every edge "s t", then the two options, then the root
    steps     ["3", "14", "16"]                            one shortest root -> target path, a node per step
    answer    "16"                                         the target

The model reads `<eos>` + question (the symbolic tokenizer adds the `<eos>` as its BOS), and an answer is
`[A] target <eos>` (cocobench.formats). A node's token is its index: the vocabulary has 31 node tokens, so
graphs have at most 31 nodes (the official ProsQA files have at most 28).

`neighbor_k[str(k)]` (k = 0..L, L = the number of steps) lists the nodes at distance k from the root that lie
on a shortest root -> target path (depth L = [target], depth 0 = [root]). Coconut's next-node supervision
trains the k-th thought to predict one of `neighbor_k[k+1]`. The anchor's files list each depth in the
iteration order of a Python set of ints; `list(set(sorted(level)))` gives its exact lists for 671 of the
676 examples of the official valid and test files (all 676 as sets; the other 5 differ only where two ids
share a hash slot). The order matters only for which node a seeded draw picks; a file that already has
`neighbor_k` (the anchor's own) keeps its lists.

Training-time augmentation (`shuffle_prompt`, `draw_path`) redraws, every time an example is trained on, the
order of the edges, the order of the two options and (for CoT) which shortest path the steps spell, with the
same random draws in the same order as the anchor's dataset.py, so a seeded run sees the anchor's sequences.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.tasks import prosqa
from cocobench.tasks.base import Task, write_default_splits

VERSION = "1"
NODE_TOKENS = 31  # node ids 0..30 are tokens; bigger graphs cannot be written symbolically
EDGE_SEP, QUERY, ROOT, ANSWER = "|", "[Q]", "[R]", "[A]"
MIN_HOPS, MAX_HOPS = 3, 4  # the anchor's subset of ProsQA (official test: 419 of 500, valid: 257 of 300)
DEFAULT_SIZES = (15000, 257, 419)  # the anchor's valid and test sizes; train about the official train's 3-4-hop share

_QUESTION = re.compile(r"^(?P<edges>.*) \[Q\] (?P<o1>\d+) (?P<o2>\d+) \[R\] (?P<root>\d+)$")


# ----------------------------------------------------------------------------------------------
# The graph's structure


def children_of(edges: list[list[int]], n: int) -> list[list[int]]:
    children: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        children[u].append(v)
    return children


def node_count(example: Example) -> int:
    names = example.get("idx_to_symbol")
    return len(names) if isinstance(names, list) else 1 + max(max(e) for e in example["edges"])


def neighbor_k(edges: list[list[int]], root: int, target: int) -> dict[str, list[int]]:
    """For each depth k = 0..L: the nodes at distance k from root on a shortest root -> target path."""
    n = 1 + max(max(max(e) for e in edges), root, target)
    dist = prosqa.distances(children_of(edges, n), root)
    if target not in dist:
        raise ValueError("target is not reachable from root")
    parents: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        parents[v].append(u)
    levels = {dist[target]: [target]}
    for depth in range(dist[target], 0, -1):
        level: list[int] = []
        for v in levels[depth]:
            level += [u for u in parents[v] if dist.get(u) == depth - 1 and u not in level]
        levels[depth - 1] = level
    return {str(k): list(set(sorted(levels[k]))) for k in range(dist[target] + 1)}  # the anchor's order (see top)


def frontier(edges: list[list[int]], root: int, depth: int) -> list[int]:
    """Every node at distance exactly `depth` from root (Coconut-BFS's thought targets), in id order."""
    n = 1 + max(max(max(e) for e in edges), root)
    dist = prosqa.distances(children_of(edges, n), root)
    return sorted(v for v, d in dist.items() if d == depth)


def render_question(edges: list[list[int]], options: tuple[int, int], root: int) -> str:
    facts = " | ".join(f"{u} {v}" for u, v in edges)
    return f"{facts} {QUERY} {options[0]} {options[1]} {ROOT} {root}"


def parse_question(question: str) -> tuple[list[list[int]], tuple[int, int], int]:
    """(edges in the question's order, the two options in order, root); ValueError if malformed."""
    match = _QUESTION.match(question)
    if not match:
        raise ValueError(f"not a symbolic ProsQA question: expected 'u v | ... [Q] o1 o2 [R] root', got {question[:60]!r}")
    edges = []
    for fact in match["edges"].split(f" {EDGE_SEP} "):
        parts = fact.split(" ")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"edge {fact!r} is not two node ids")
        edges.append([int(parts[0]), int(parts[1])])
    return edges, (int(match["o1"]), int(match["o2"])), int(match["root"])


# ----------------------------------------------------------------------------------------------
# From ProsQA (official files or cocobench's generator)


def path_of(example: Example) -> list[int]:
    """The node path the language steps spell: root, then each step's last concept."""
    index = {name: i for i, name in enumerate(example["idx_to_symbol"])}
    path = [example["root"]]
    for step in example["steps"]:
        match = prosqa._SENTENCE.match(step)
        if not match or match.group(3) not in index:
            raise ValueError(f"step {step!r} is not a ProsQA fact about known names")
        path.append(index[match.group(3)])
    return path


def to_symbolic(example: Example, rng: random.Random) -> Example:
    """A ProsQA example in symbolic form: edges in the file's order, the options in an order drawn from `rng`."""
    if node_count(example) > NODE_TOKENS:
        raise ValueError(f"a graph of {node_count(example)} nodes has more nodes than the {NODE_TOKENS} node tokens")
    target, neg = example["target"], example["neg_target"]
    options = (target, neg) if rng.random() < 0.5 else (neg, target)
    path = path_of(example)
    return {
        "question": render_question(example["edges"], options, example["root"]),
        "steps": [str(v) for v in path[1:]],
        "answer": str(target),
        **{f: example[f] for f in ("idx_to_symbol", "edges", "root", "target", "neg_target") if f in example},
        "neighbor_k": kept_neighbor_k(example),
    }


def kept_neighbor_k(example: Example) -> dict[str, list[int]]:
    """The example's own `neighbor_k` when it has one (the anchor's files), checked; else computed."""
    computed = neighbor_k(example["edges"], example["root"], example["target"])
    given = example.get("neighbor_k")
    if given is None:
        return computed
    if not same_levels(given, computed):
        raise ValueError("its neighbor_k is not the shortest-path nodes per depth")
    return given


def same_levels(a, b) -> bool:
    """neighbor_k equality up to the order within a depth."""
    return isinstance(a, dict) and a.keys() == b.keys() and all(isinstance(a[k], list) and sorted(a[k]) == sorted(b[k]) for k in b)


def in_hops(example: Example, min_hops: int, max_hops: int) -> bool:
    return min_hops <= len(example["steps"]) <= max_hops


def convert(examples: list[Example], seed: int, split: str, min_hops: int = MIN_HOPS, max_hops: int = MAX_HOPS) -> list[Example]:
    """The examples with min_hops..max_hops steps, in their order, made symbolic (option order seeded per split)."""
    rng = random.Random(f"prosqa-symbolic-{VERSION}-{seed}-{split}")
    return [to_symbolic(ex, rng) for ex in examples if in_hops(ex, min_hops, max_hops)]


def generate_splits(seed: int, sizes: dict[str, int], min_nodes: int = prosqa.MIN_NODES, max_nodes: int = prosqa.MAX_NODES,
                    min_hops: int = MIN_HOPS, max_hops: int = MAX_HOPS, progress: Callable[[str, int], None] | None = None) -> dict[str, list[Example]]:
    """ProsQA's generator restricted to min_hops..max_hops, each split made symbolic."""
    if max_nodes > NODE_TOKENS:
        raise CocobenchError(f"--max-nodes {max_nodes} exceeds the {NODE_TOKENS} node tokens of the symbolic format; lower it")
    splits = prosqa.generate_splits(seed, sizes, min_nodes, max_nodes, min_hops, max_hops, progress=progress)
    return {split: convert(examples, seed, split, min_hops, max_hops) for split, examples in splits.items()}


def meta(seed: int, sizes: dict[str, int], **knobs: int) -> dict:
    knobs = {"min_hops": MIN_HOPS, "max_hops": MAX_HOPS, **knobs}
    return {"generator": "prosqa-symbolic", "version": VERSION, "prosqa_version": prosqa.VERSION, "seed": seed, "params": prosqa.params(sizes, **knobs)}


def generate_default(out_dir: Path, seed: int = 0) -> None:
    write_default_splits(out_dir, DEFAULT_SIZES, generate_splits, meta, seed)


# ----------------------------------------------------------------------------------------------
# Training-time augmentation (the anchor's draws, in its order)


def shuffle_prompt(example: Example, rng: random.Random) -> Example:
    """The example with its edges shuffled and its two options in a fresh order (the anchor's get_prefix)."""
    edges = [list(e) for e in example["edges"]]
    rng.shuffle(edges)
    target, neg = example["target"], example["neg_target"]
    options = (target, neg) if rng.random() < 0.5 else (neg, target)
    return {**example, "question": render_question(edges, options, example["root"])}


def draw_path(example: Example, rng: random.Random) -> Example:
    """The example with its steps a shortest path drawn node by node from `neighbor_k` (the anchor's CoT)."""
    edges = {tuple(e) for e in example["edges"]}
    node, steps = example["root"], []
    for depth in range(1, len(example["neighbor_k"])):
        node = rng.choice([v for v in example["neighbor_k"][str(depth)] if (node, v) in edges])
        steps.append(str(node))
    return {**example, "steps": steps}


# ----------------------------------------------------------------------------------------------
# Checking


def is_symbolic(example: Example) -> bool:
    question = example.get("question")
    return isinstance(question, str) and f" {QUERY} " in question and f" {ROOT} " in question and "neighbor_k" in example


def check_example(example: Example) -> list[str]:
    """Problems with one symbolic ProsQA example (empty list = valid)."""
    for field, kind in (("question", str), ("answer", str), ("steps", list), ("neighbor_k", dict)):
        if not isinstance(example.get(field), kind):
            return [f"field '{field}' missing or not a {kind.__name__}"]
    if "idx_to_symbol" not in example:
        example = {**example, "idx_to_symbol": [str(i) for i in range(node_count(example))]} if _edges_ok(example) else example
    problems = prosqa._structure_problems(example)
    if problems:
        return problems
    n = len(example["idx_to_symbol"])
    if n > NODE_TOKENS:
        return [f"the graph has {n} nodes; the symbolic format has {NODE_TOKENS} node tokens"]
    children = children_of(example["edges"], n)
    is_person = [True] * n
    for _, v in example["edges"]:
        is_person[v] = False
    problems = prosqa._graph_problems(example, children, is_person)
    if problems:
        return problems
    return _text_problems(example, children)


def _edges_ok(example: Example) -> bool:
    edges = example.get("edges")
    return isinstance(edges, list) and bool(edges) and all(isinstance(e, list) and len(e) == 2 and all(type(x) is int and 0 <= x for x in e) for e in edges)


def _text_problems(ex: Example, children: list[list[int]]) -> list[str]:
    root, target, neg = ex["root"], ex["target"], ex["neg_target"]
    try:
        edges, options, asked_root = parse_question(ex["question"])
    except ValueError as exc:
        return [str(exc)]
    problems = []
    if sorted(map(tuple, edges)) != sorted(map(tuple, ex["edges"])):
        problems.append("question edges do not match edges (one 'u v' per edge)")
    if set(options) != {target, neg} or asked_root != root:
        problems.append(f"question must end with '[Q] {target} {neg} [R] {root}' (options in either order)")
    if ex["answer"] != str(target):
        problems.append(f"answer must be the target '{target}', got {ex['answer']!r}")
    expected = neighbor_k(ex["edges"], root, target)
    if not same_levels(ex["neighbor_k"], expected):
        problems.append("neighbor_k is not the shortest-path nodes per depth (recompute it with `cocobench data convert`)")
    path = [root]
    for i, step in enumerate(ex["steps"]):
        if not step.isdigit() or int(step) not in children[path[-1]]:
            return problems + [f"step {i + 1} {step!r} is not a child of node {path[-1]}"]
        path.append(int(step))
    if path[-1] != target or len(ex["steps"]) != len(expected) - 1:
        problems.append(f"steps must be a shortest root -> target path ({len(expected) - 1} nodes ending at {target})")
    return problems


def options(example: Example) -> tuple[str, str]:
    """The two answers that name an option: the target (right) and the other start node's leaf."""
    return str(example["target"]), str(example["neg_target"])


TASK = Task(
    name="prosqa-symbolic",
    description="ProsQA in node ids, 3-4 hops ('Reasoning by Superposition'): every node one token, one-token answer",
    check=check_example,
    recognizes=is_symbolic,
    default_sizes=DEFAULT_SIZES,
    generate_default=generate_default,
    version=VERSION,
    options=options,
)
