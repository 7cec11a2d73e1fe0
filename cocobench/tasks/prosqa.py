"""ProsQA: "Is Tom a lempus or scrompus?" over a random DAG of "is a" facts (paper Appendix A).

Data flows top to bottom: Algorithm 1 grows a graph (`grow_graph`), unused people are dropped
(`drop_unused_people`), a question is posed on it or the graph is rejected (`pose_question`), and
the result is written in the official files' format (`render_example`). `generate_splits` repeats
that per split; `check_example` verifies any ProsQA example, official or generated.

What the official files (valid 300 / test 500) fix, measured on them and kept here:
- node indices are construction order: every edge u -> v has u < v, edges listed in that order
  (by child, parents in the order they were drawn); every node is in at least one edge;
- the root is the start node (0 or 1) whose deepest leaf reachable only from it is deeper (the
  other start node's is never deeper); the target is that deepest leaf (ties: random); neg_target
  is any leaf reachable from the other start node and never from root (uniform);
- the steps spell one shortest root -> target path, uniform among the shortest paths;
- "Is {root} a {X} or {Y}?" puts the target first half the time.

What the paper leaves OPEN, calibrated by experiment against those files (generated vs official,
18,686 vs 800 examples; `cocobench data compare` prints every feature against its sampling floor):
- Algorithm 1's branch thresholds "random() <= 0.35 ... else random() <= 0.7 ... else any node"
  are read as two separate draws, the second only when the first fails: parents come from outside
  node 1's descendants with probability 0.35, from outside node 0's with 0.65 * 0.7 = 0.455, from any
  node with 0.195. Read as one draw (0.35 / 0.35 / 0.3), the "any node" branch mixes the two sides
  too often: 1.9 nodes reachable from both start nodes (official 1.24; here 1.27), the first concept
  a child of both start nodes in 14% of graphs (official 6%; here 8.5%), too few exclusive leaves.
  The asymmetry also makes node 1's side the larger one: node 1 is the root in 61% of questions
  (official 64%) with no swapping of the start nodes afterwards.
- depth_to_root is the shortest distance from the node's own start node (1 + the smallest depth
  among its parents), and 0 for nodes reachable from neither or both start nodes. The longest chain
  instead makes chains too long (longest root -> target chain 5.8 vs 5.35 official; here 5.37);
  plain depth for nodes reachable from both makes them attract many children.
- N, the number of nodes Algorithm 1 grows, is fixed at 28 (`min_nodes = max_nodes = 28`). People
  who never get a child are then dropped, which gives 22.9 nodes (official 22.8; range 15-28 vs
  14-28) and 36.3 edges (36.0).
- Rejection rule: a graph is rejected unless the target lies min_hops..max_hops (3..6) steps from
  the root and the other start node has a leaf of its own (about 7% of graphs). Steps come out
  {3: 41%, 4: 42%, 5: 14%, 6: 3%}, mean 3.78 (official {40.7, 43.8, 13.1, 2.4}%, 3.77).
- People (parentless nodes other than 0 and 1) are parents only through the "any node" branch, not
  through groups[0]; offering them in groups[0] as well keeps about 2 extra people per graph (official
  0.56; here 0.57).
Also measured: exclusive leaves of root 3.56 (official 3.65) and of the other start node 2.53
(2.46); 2.57 people, 11% of examples with 4 or more (2.56, 10.7%); 1.6 shortest paths per question.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cocobench import tasks
from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.tasks.base import Task, check_sizes, generation_order, write_default_splits
from cocobench.tasks.generator import GeneratorSettings, gen_setting, out_setting, overwrite_setting, seed_setting, split_setting

VERSION = "2"  # 2: two-draw branch reading, shortest-distance depth (shared descendants as official)

PEOPLE = ("Alex", "Bob", "Carol", "Davis", "Eva", "Fae", "Gabriel", "Jack", "Max", "Oliver", "Polly",
          "Rex", "Sally", "Sam", "Stella", "Tom", "Wren")  # fmt: skip
CONCEPTS = ("bompus", "boompus", "brimpus", "chorpus", "dumpus", "felpus", "fompus", "gerpus", "gorpus",
            "grimpus", "gwompus", "hilpus", "impus", "jelpus", "jompus", "kerpus", "lempus", "lorpus",
            "numpus", "quimpus", "rempus", "rompus", "rorpus", "scrompus", "shumpus", "sterpus", "storpus",
            "terpus", "timpus", "tumpus", "vumpus", "worpus", "wumpus", "yerpus", "yimpus", "yumpus",
            "zhorpus", "zumpus")  # fmt: skip

# Algorithm 1 constants (paper).
IN_DEGREE_MEAN = 1.5  # a new node's number of parents ~ Poisson(1.5)
P_ONLY_NODE0 = 0.35  # first draw: parents may not descend from node 1
P_ONLY_NODE1 = 0.7  # second draw, when the first fails: parents may not descend from node 0 (else: any node)
DEPTH_WEIGHT = 1.5  # parent weight depth * 1.5 + 1: deep nodes are preferred, making long chains

# Knob defaults (calibrated, see the module docstring).
MIN_NODES = MAX_NODES = 28
MIN_HOPS, MAX_HOPS = 3, 6
# Two start people and 38 concepts: a larger N could run out of concept names.
NODES_LIMIT = 2 + len(CONCEPTS)
# Give up when this many graphs in a row are rejected: the hop range is out of reach for N.
STALL_LIMIT = 20_000
DEFAULT_SIZES = (17886, 300, 500)  # the official files' train / valid / test
FORMATS = {"language": "prosqa", "symbolic": "prosqa-symbolic"}  # `gen prosqa --format` -> the task its data is


# Labels of Algorithm 1: bit 1 = reachable from node 0, bit 2 = reachable from node 1.
FROM_NODE0, FROM_NODE1, FROM_BOTH = 1, 2, 3


# ----------------------------------------------------------------------------------------------
# Generation


@dataclass(frozen=True)
class Graph:
    parents: list[list[int]]  # parents[v]: v's parents in the order they were drawn; u < v always
    labels: list[int]  # 0..3, see FROM_NODE0 / FROM_NODE1

    def children(self) -> list[list[int]]:
        children: list[list[int]] = [[] for _ in self.parents]
        for v, ps in enumerate(self.parents):
            for u in ps:
                children[u].append(v)
        return children


@dataclass(frozen=True)
class Question:
    graph: Graph
    root: int
    target: int
    neg_target: int
    path: list[int]  # root, ..., target: one shortest path


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact for small means, and only `rng` is used (reproducible)."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def weighted_sample(rng: random.Random, candidates: list[int], weights: list[float], k: int) -> list[int]:
    """k distinct candidates, each draw proportional to weight among those left (numpy's choice)."""
    candidates, weights, chosen = list(candidates), list(weights), []
    for _ in range(k):
        x = rng.random() * sum(weights)
        i = 0
        while i < len(weights) - 1 and x >= weights[i]:
            x -= weights[i]
            i += 1
        chosen.append(candidates.pop(i))
        weights.pop(i)
    return chosen


def grow_graph(rng: random.Random, n_nodes: int) -> Graph:
    """Algorithm 1: nodes 0 and 1 (labels 1 and 2), then one node at a time until n_nodes."""
    parents: list[list[int]] = [[], []]
    labels = [FROM_NODE0, FROM_NODE1]
    # depth_to_root: the shortest distance from the node's own start node. A node reachable from
    # neither start node (people, label 0) or from both (label 3) has no root of its own: depth 0.
    depth = [0, 0]
    # groups[label]: concepts (and nodes 0/1) by label. People other than 0/1 are left out on
    # purpose: they are offered as parents only by the "any node" branch (calibration, see top).
    groups: dict[int, list[int]] = {0: [], FROM_NODE0: [0], FROM_NODE1: [1], FROM_BOTH: []}
    for idx in range(2, n_nodes):
        n_parents = poisson(rng, IN_DEGREE_MEAN)
        # Two draws (calibration, see top): 0.35 / 0.455 / 0.195.
        if rng.random() < P_ONLY_NODE0:
            candidates = groups[0] + groups[FROM_NODE0]
        elif rng.random() < P_ONLY_NODE1:
            candidates = groups[0] + groups[FROM_NODE1]
        else:
            candidates = list(range(idx))
        weights = [depth[c] * DEPTH_WEIGHT + 1 for c in candidates]
        chosen = weighted_sample(rng, candidates, weights, min(n_parents, len(candidates)))
        label = 0
        for p in chosen:
            label |= labels[p]
        parents.append(chosen)
        labels.append(label)
        own_root = label in (FROM_NODE0, FROM_NODE1)
        depth.append(1 + min(depth[p] for p in chosen if labels[p] == label) if own_root else 0)
        if chosen:
            groups[label].append(idx)
    return Graph(parents, labels)


def drop_unused_people(graph: Graph) -> Graph:
    """Remove people (no parents) that never got a child; keep nodes 0 and 1 and the order."""
    has_child = [False] * len(graph.parents)
    for ps in graph.parents:
        for u in ps:
            has_child[u] = True
    keep = [v for v, ps in enumerate(graph.parents) if v < 2 or ps or has_child[v]]
    new = {v: i for i, v in enumerate(keep)}
    return Graph([[new[u] for u in graph.parents[v]] for v in keep], [graph.labels[v] for v in keep])


def distances(children: list[list[int]], *sources: int) -> dict[int, int]:
    """Breadth-first shortest distances (in edges) from the nearest of the sources to every node they reach."""
    dist, queue = {source: 0 for source in sources}, deque(sources)
    while queue:
        u = queue.popleft()
        for v in children[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def shortest_path_counts(children: list[list[int]], dist: dict[int, int], target: int) -> dict[int, int]:
    """For each node reached: the number of shortest paths from it on to target (root's = total)."""
    counts = {target: 1}
    for u in sorted(dist, key=dist.get, reverse=True):
        if u != target:
            counts[u] = sum(counts.get(w, 0) for w in children[u] if dist.get(w) == dist[u] + 1)
    return counts


def sample_shortest_path(rng: random.Random, children, dist, root: int, target: int) -> list[int]:
    """One shortest root -> target path, uniform over all of them."""
    counts = shortest_path_counts(children, dist, target)
    path = [root]
    while path[-1] != target:
        u = path[-1]
        nexts = [w for w in children[u] if dist.get(w) == dist[u] + 1 and counts.get(w, 0) > 0]
        path.append(weighted_sample(rng, nexts, [counts[w] for w in nexts], 1)[0])
    return path


def exclusive_leaves(graph: Graph, children: list[list[int]], label: int) -> list[int]:
    """Concept leaves reachable from exactly the start node `label` names (1: node 0, 2: node 1)."""
    return [v for v, ps in enumerate(graph.parents) if ps and not children[v] and graph.labels[v] == label]


def pose_question(rng: random.Random, graph: Graph, min_hops: int, max_hops: int) -> Question | None:
    """Root = the start node with the deeper exclusive leaf; None when the graph is rejected."""
    children = graph.children()
    dist = [distances(children, 0), distances(children, 1)]
    leaves = [exclusive_leaves(graph, children, FROM_NODE0), exclusive_leaves(graph, children, FROM_NODE1)]
    deepest = [max((dist[s][v] for v in leaves[s]), default=-1) for s in (0, 1)]
    root = rng.randrange(2) if deepest[0] == deepest[1] else int(deepest[1] > deepest[0])
    other = 1 - root
    if not (min_hops <= deepest[root] <= max_hops) or not leaves[other]:
        return None
    target = rng.choice([v for v in leaves[root] if dist[root][v] == deepest[root]])
    neg_target = rng.choice(leaves[other])
    path = sample_shortest_path(rng, children, dist[root], root, target)
    return Question(graph, root, target, neg_target, path)


def fact(names: list[str], is_person: list[bool], u: int, v: int) -> str:
    return f"{names[u]} is a {names[v]}." if is_person[u] else f"Every {names[u]} is a {names[v]}."


def render_example(rng: random.Random, q: Question) -> Example | None:
    """The official layout: names, one shuffled fact per edge, steps along the path, answer."""
    parents = q.graph.parents
    is_person = [not ps for ps in parents]
    n_people = sum(is_person)
    if n_people > len(PEOPLE) or len(parents) - n_people > len(CONCEPTS):
        return None  # more names needed than the vocabulary has
    people, concepts = iter(rng.sample(PEOPLE, n_people)), iter(rng.sample(CONCEPTS, len(parents) - n_people))
    names = [next(people) if person else next(concepts) for person in is_person]
    edges = [[u, v] for v, ps in enumerate(parents) for u in ps]
    facts = [fact(names, is_person, u, v) for u, v in edges]
    rng.shuffle(facts)
    options = [names[q.target], names[q.neg_target]]
    rng.shuffle(options)
    root = names[q.root]
    return {
        "question": " ".join(facts) + f" Is {root} a {options[0]} or {options[1]}?",
        "answer": f"{root} is a {names[q.target]}.",
        "steps": [fact(names, is_person, u, v) for u, v in zip(q.path, q.path[1:])],
        "idx_to_symbol": names,
        "edges": edges,
        "root": q.root,
        "target": q.target,
        "neg_target": q.neg_target,
    }


def validate_knobs(min_nodes: int, max_nodes: int, min_hops: int, max_hops: int) -> None:
    """Reject impossible settings before any work (CocobenchError: one line, names the fix)."""
    if min_nodes > max_nodes:
        raise CocobenchError(f"--min-nodes {min_nodes} is larger than --max-nodes {max_nodes}; swap them")
    if min_hops > max_hops:
        raise CocobenchError(f"--min-hops {min_hops} is larger than --max-hops {max_hops}; swap them")
    if min_hops < 1:
        raise CocobenchError(f"--min-hops must be at least 1, got {min_hops}")
    if max_nodes > NODES_LIMIT:
        raise CocobenchError(
            f"--max-nodes {max_nodes} exceeds {NODES_LIMIT} (2 people + {len(CONCEPTS)} concept names); lower it"
        )
    # A target min_hops away needs the root, min_hops concepts, the other start node and its leaf.
    if min_hops + 3 > max_nodes:
        raise CocobenchError(
            f"--min-hops {min_hops} cannot fit in graphs of at most {max_nodes} nodes (needs {min_hops + 3}); "
            f"raise --max-nodes or lower --min-hops"
        )
    if min_nodes < min_hops + 3:  # smaller graphs hold no question: every draw of them would be thrown away
        raise CocobenchError(f"--min-nodes {min_nodes} is below the {min_hops + 3} nodes a question of --min-hops {min_hops} needs; raise --min-nodes")


def generate_example(rng: random.Random, min_nodes: int, max_nodes: int, min_hops: int, max_hops: int) -> Example | None:
    """One attempt: grow a graph, pose a question, render it; None when rejected."""
    graph = drop_unused_people(grow_graph(rng, rng.randint(min_nodes, max_nodes)))
    question = pose_question(rng, graph, min_hops, max_hops)
    return None if question is None else render_example(rng, question)


def example_key(example: Example) -> tuple:
    """Identity of a problem regardless of fact order (the same graph shuffled is a duplicate)."""
    facts, query = example["question"].rsplit(" Is ", 1)
    return tuple(sorted(facts.split(". "))), query


def generate_splits(
    seed: int,
    sizes: dict[str, int],
    min_nodes: int = MIN_NODES,
    max_nodes: int = MAX_NODES,
    min_hops: int = MIN_HOPS,
    max_hops: int = MAX_HOPS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, list[Example]]:
    """Splits of the requested sizes, deterministic for `seed`; no problem appears twice.

    Each split has its own random stream (seeded by seed and split name), and test is drawn first,
    then valid, then train, skipping problems already drawn: the test set does not depend on the
    train size. `progress(split, n)` is told about every n new examples.
    """
    check_sizes(sizes)
    validate_knobs(min_nodes, max_nodes, min_hops, max_hops)
    seen: set[tuple] = set()
    splits: dict[str, list[Example]] = {}
    for split in generation_order(sizes):
        rng = random.Random(f"prosqa-{VERSION}-{seed}-{split}")
        examples: list[Example] = []
        stalled = 0
        while len(examples) < sizes[split]:
            example = generate_example(rng, min_nodes, max_nodes, min_hops, max_hops)
            key = None if example is None else example_key(example)
            if key is None or key in seen:
                stalled += 1
                if stalled >= STALL_LIMIT:
                    raise CocobenchError(
                        f"no new question with {min_hops}-{max_hops} hops in {STALL_LIMIT} graphs of "
                        f"{min_nodes}-{max_nodes} nodes; raise --max-nodes or lower --min-hops"
                    )
                continue
            stalled = 0
            seen.add(key)
            examples.append(example)
            if progress is not None:
                progress(split, 1)
        splits[split] = examples
    return {split: splits[split] for split in sizes}


def params(
    sizes: dict[str, int],
    min_nodes: int = MIN_NODES,
    max_nodes: int = MAX_NODES,
    min_hops: int = MIN_HOPS,
    max_hops: int = MAX_HOPS,
) -> dict:
    """Every setting that shapes the data, for meta.json."""
    return {
        **sizes,
        "min_nodes": min_nodes,
        "max_nodes": max_nodes,
        "min_hops": min_hops,
        "max_hops": max_hops,
        "in_degree_mean": IN_DEGREE_MEAN,
        "p_only_node0": P_ONLY_NODE0,
        "p_only_node1": P_ONLY_NODE1,
        "depth_weight": DEPTH_WEIGHT,
    }


def meta(seed: int, sizes: dict[str, int], **knobs: int) -> dict:
    """meta.json for `write_splits`: what made the files, enough to make them again."""
    return {"generator": "prosqa", "version": VERSION, "seed": seed, "params": params(sizes, **knobs)}


def generate_default(out_dir: Path, seed: int = 0) -> None:
    """Write the paper-sized splits (17886 / 300 / 500) into out_dir, as `cocobench gen prosqa` does."""
    write_default_splits(out_dir, TASK.default_sizes, generate_splits, meta, seed)


@dataclass
class ProsQASettings(GeneratorSettings):
    """Generate ProsQA train/valid/test splits (paper Appendix A, Algorithm 1), deterministic for --seed."""

    out: Path | None = out_setting("prosqa")
    overwrite: bool = overwrite_setting()
    seed: int = seed_setting()
    train: int = split_setting(DEFAULT_SIZES[0], "Number of training examples (paper: 17886).")
    valid: int = split_setting(DEFAULT_SIZES[1], "Number of validation examples (paper: 300).")
    test: int = split_setting(DEFAULT_SIZES[2], "Number of test examples (paper: 500); independent of --train.")
    min_nodes: int = gen_setting(MIN_NODES, "Smallest N, the nodes Algorithm 1 grows before people without a child are dropped "
                                            "(N=28 gives the official 22.8 nodes on average).")
    max_nodes: int = gen_setting(MAX_NODES, f"Largest N (N is drawn uniformly from min..max; at most {NODES_LIMIT}).")
    # None: the format's own default (the symbolic format keeps "Reasoning by Superposition"'s 3-4 hops)
    min_hops: int | None = gen_setting(None, "Fewest reasoning steps (shortest root -> target path length) to keep.",
                                       note=lambda: f"{MIN_HOPS}; symbolic: {tasks.task_module(FORMATS['symbolic']).MIN_HOPS}")
    max_hops: int | None = gen_setting(None, "Most reasoning steps to keep (out-of-distribution sets: --min-hops 7 --max-hops 8).",
                                       note=lambda: f"{MAX_HOPS}; symbolic: {tasks.task_module(FORMATS['symbolic']).MAX_HOPS}")
    format: str = gen_setting("language", "language (the paper's English sentences) | symbolic (every node one token, 'Reasoning by "
                                          "Superposition'; adds neighbor_k; default --out data/prosqa-symbolic).", choices=tuple(FORMATS))

    def task_name(self) -> str:
        return FORMATS[self.format]

    def knobs(self) -> dict[str, int]:
        """The graph and hop settings, each format's own hop defaults filled in."""
        module = tasks.task_module(self.task_name())  # this module, or prosqa_symbolic (which builds on it)
        return {"min_nodes": self.min_nodes, "max_nodes": self.max_nodes, "min_hops": module.MIN_HOPS if self.min_hops is None else self.min_hops,
                "max_hops": module.MAX_HOPS if self.max_hops is None else self.max_hops}

    def check_together(self) -> None:
        validate_knobs(**self.knobs())

    def splits(self, progress: Callable[[str, int], None]) -> dict[str, list[Example]]:
        return tasks.task_module(self.task_name()).generate_splits(self.seed, self.sizes, **self.knobs(), progress=progress)

    def meta(self) -> dict:
        return tasks.task_module(self.task_name()).meta(self.seed, self.sizes, **self.knobs())


# ----------------------------------------------------------------------------------------------
# Checking

_SENTENCE = re.compile(r"^(?:(Every) )?(\S+) is a (\S+)\.$")
_QUERY = re.compile(r"^Is (\S+) a (\S+) or (\S+)\?$")


def _structure_problems(ex: Example) -> list[str]:
    """Types and index ranges; later checks assume these hold."""
    names, edges = ex.get("idx_to_symbol"), ex.get("edges")
    if not isinstance(names, list) or not names or not all(isinstance(s, str) and s and " " not in s for s in names):
        return ["idx_to_symbol must be a non-empty list of one-word names"]
    if len(set(names)) != len(names):
        return ["idx_to_symbol has repeated names; names must be unique within an example"]
    n = len(names)
    if not isinstance(edges, list) or not all(
        isinstance(e, list) and len(e) == 2 and all(type(x) is int and 0 <= x < n for x in e) for e in edges
    ):
        return [f"edges must be a list of [u, v] pairs of node indices 0..{n - 1}"]
    problems = []
    for field in ("root", "target", "neg_target"):
        if type(ex.get(field)) is not int or not 0 <= ex[field] < n:
            problems.append(f"{field} must be a node index 0..{n - 1}")
    if not problems and ex["root"] not in (0, 1):
        problems.append(f"root must be node 0 or 1 (a start node), got {ex['root']}")
    if any(u >= v for u, v in edges):
        problems.append("every edge [u, v] must have u < v (nodes are numbered in construction order)")
    if len({tuple(e) for e in edges}) != len(edges):
        problems.append("edges has repeated pairs")
    return problems


def _graph_problems(ex: Example, children: list[list[int]], is_person: list[bool]) -> list[str]:
    """Target and neg_target as the generator defines them (all 800 official examples comply)."""
    root, target, neg = ex["root"], ex["target"], ex["neg_target"]
    from_root, from_other = distances(children, root), distances(children, 1 - root)
    problems = []
    if not is_person[root]:
        problems.append("root has parents; it must be a person")
    for field, v in (("target", target), ("neg_target", neg)):
        if children[v] or is_person[v]:
            problems.append(f"{field} must be a leaf concept (has children or no parents)")
    if target not in from_root:
        problems.append("target is not reachable from root")
    if target in from_other:
        problems.append("target is also reachable from the other start node")
    if neg in from_root:
        problems.append("neg_target is reachable from root: the answer would be ambiguous")
    if neg not in from_other:
        problems.append("neg_target is not reachable from the other start node")
    if target in from_root:
        own = [v for v in from_root if v not in from_other and not children[v] and not is_person[v]]
        if max((from_root[v] for v in own), default=0) > from_root[target]:
            problems.append("target is not the deepest leaf reachable only from root")
    return problems


def _text_problems(ex: Example, names: list[str], children, is_person: list[bool]) -> list[str]:
    problems = []
    edges = [tuple(e) for e in ex["edges"]]
    facts, sep, query = ex["question"].rpartition(" Is ")
    expected = sorted(fact(names, is_person, u, v) for u, v in edges)
    if not sep or sorted(_split_facts(facts)) != expected:
        problems.append("question facts do not match edges (one sentence per edge, person/concept templates)")
    root, target, neg = (names[ex[f]] for f in ("root", "target", "neg_target"))
    match = _QUERY.match("Is " + query) if sep else None
    if not match or match.group(1) != root or {match.group(2), match.group(3)} != {target, neg}:
        problems.append(f"question must end with 'Is {root} a {target} or {neg}?' (either order)")
    if ex["answer"] != f"{root} is a {target}.":
        problems.append(f"answer must be '{root} is a {target}.', got {ex['answer']!r}")
    return problems + _step_problems(ex, names, children, is_person)


def _split_facts(facts: str) -> list[str]:
    return [s if s.endswith(".") else s + "." for s in facts.split(". ")] if facts else []


def _step_problems(ex: Example, names: list[str], children, is_person: list[bool]) -> list[str]:
    index = {name: i for i, name in enumerate(names)}
    path = [ex["root"]]
    for i, step in enumerate(ex["steps"]):
        match = _SENTENCE.match(step)
        if not match or match.group(2) not in index or match.group(3) not in index:
            return [f"step {i + 1} {step!r} is not a fact about known names"]
        u, v = index[match.group(2)], index[match.group(3)]
        if u != path[-1]:
            return [f"step {i + 1} {step!r} does not continue from {names[path[-1]]}"]
        if v not in children[u] or step != fact(names, is_person, u, v):
            return [f"step {i + 1} {step!r} is not an edge of the graph"]
        path.append(v)
    if path[-1] != ex["target"]:
        return [f"steps end at {names[path[-1]]}, not at the target {names[ex['target']]}"]
    shortest = distances(children, ex["root"]).get(ex["target"])
    if len(ex["steps"]) != shortest:
        return [f"steps take {len(ex['steps'])} hops; the shortest root -> target path takes {shortest}"]
    return []


def check_example(example: Example) -> list[str]:
    """Problems with one ProsQA example (empty list = valid)."""
    for field, kind in (("question", str), ("answer", str), ("steps", list)):
        if not isinstance(example.get(field), kind):
            return [f"field '{field}' missing or not a {kind.__name__}"]
    problems = _structure_problems(example)
    if problems:
        return problems
    names = example["idx_to_symbol"]
    children: list[list[int]] = [[] for _ in names]
    is_person = [True] * len(names)
    for u, v in example["edges"]:
        children[u].append(v)
        is_person[v] = False
    return _graph_problems(example, children, is_person) + _text_problems(example, names, children, is_person)


def recognizes(example: Example) -> bool:
    # A question in node ids ("... [Q] 16 13 [R] 1") is symbolic ProsQA (cocobench.tasks.prosqa_symbolic).
    return all(field in example for field in ("edges", "root", "target", "neg_target")) and " [Q] " not in str(example.get("question"))


# ----------------------------------------------------------------------------------------------
# Training-time augmentation (`--augment`): the same question, its facts and options in a fresh order


def shuffle_question(example: Example, rng: random.Random) -> Example:
    """The example with its facts shuffled and its two options in a fresh order (the answer and steps
    stay: they do not depend on either order)."""
    facts, sep, query = example["question"].rpartition(" Is ")
    match = _QUERY.match("Is " + query) if sep else None
    if not match:
        raise CocobenchError(f"--augment needs ProsQA questions ending 'Is X a Y or Z?', got {example['question'][-60:]!r}")
    sentences = _split_facts(facts)
    rng.shuffle(sentences)
    person, first, second = match.groups()
    options = (first, second) if rng.random() < 0.5 else (second, first)
    return {**example, "question": " ".join(sentences) + f" Is {person} a {options[0]} or {options[1]}?"}


# ----------------------------------------------------------------------------------------------
# Reading a question and a model's output as a graph and a path (for `cocobench analyze paths`)
#
# Only the text is read (the facts, the query, the answer), not `edges`/`idx_to_symbol`, so any
# file in the ProsQA format works, and so does a question a user writes by hand.


@dataclass(frozen=True)
class QuestionGraph:
    """A ProsQA question read from its text: each fact an edge, the person asked about, the two options."""

    edges: tuple[tuple[str, str], ...]  # (parent, child) names, one per fact, in question order
    root: str  # the person the question asks about ("Is Tom a ...")
    options: tuple[str, str]  # the two concepts offered, in question order
    target: str | None = None  # the right option, read from the answer ("Tom is a X."); None without one

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """name -> its children, in the order of the facts; every name is a key (leaves map to ())."""
        children: dict[str, list[str]] = {}
        for parent, child in self.edges:
            children.setdefault(parent, []).append(child)
            children.setdefault(child, [])
        children.setdefault(self.root, [])
        return {name: tuple(kids) for name, kids in children.items()}

    @property
    def first_concepts(self) -> tuple[str, ...]:
        """The root's children: where every path from the root starts."""
        return self.children[self.root]

    @property
    def people(self) -> tuple[str, ...]:
        """Names no fact makes a child (the root and the other persons), in order of appearance."""
        has_parent = {child for _, child in self.edges}
        return tuple(name for name in self.children if name not in has_parent)

    def is_edge(self, parent: str, child: str) -> bool:
        return child in self.children.get(parent, ())

    def distances(self, source: str | None = None) -> dict[str, int]:
        """Shortest distance in edges from `source` (default: the root) to every name it reaches."""
        source = self.root if source is None else source
        dist, queue = {source: 0}, deque([source])
        while queue:
            node = queue.popleft()
            for child in self.children.get(node, ()):
                if child not in dist:
                    dist[child] = dist[node] + 1
                    queue.append(child)
        return dist

    def reachable_in(self, hops: int, source: str | None = None) -> set[str]:
        """Names at the end of some path of exactly `hops` edges from `source` (default: the root)."""
        frontier = {self.root if source is None else source}
        for _ in range(hops):
            frontier = {child for node in frontier for child in self.children.get(node, ())}
        return frontier


def parse_question(question: str, answer: str | None = None) -> QuestionGraph:
    """The graph, root and options of a ProsQA question text (and the target, given the answer sentence).

    Raises CocobenchError when the text is not a ProsQA question ("... Every A is a B. Is Tom a X or Y?").
    """
    facts, sep, query = question.strip().rpartition(" Is ")
    match = _QUERY.match("Is " + query) if sep else None
    if match is None:
        raise CocobenchError(f"not a ProsQA question (no final 'Is <person> a <X> or <Y>?'): {question[-60:]!r}; pass a ProsQA test file")
    edges = []
    for sentence in _split_facts(facts):
        fact_match = _SENTENCE.match(sentence)
        if fact_match is None:
            raise CocobenchError(f"not a ProsQA fact: {sentence!r} (expected 'Every A is a B.' or 'Tom is a A.'); pass a ProsQA test file")
        edges.append((fact_match.group(2), fact_match.group(3)))
    target = None
    if answer is not None:
        answer_match = _SENTENCE.match(answer.strip())
        target = answer_match.group(3) if answer_match else None
    return QuestionGraph(tuple(edges), match.group(1), (match.group(2), match.group(3)), target)


def question_graph(example: Example) -> QuestionGraph:
    """`parse_question` of an example's question and answer."""
    return parse_question(example["question"], example.get("answer"))


@dataclass(frozen=True)
class Step:
    """One sentence of a generated reasoning chain; subject and concept are None when it is not of the
    form "Every A is a B." / "Tom is a A." (a malformed step)."""

    text: str
    subject: str | None
    concept: str | None

    @property
    def well_formed(self) -> bool:
        return self.subject is not None


@dataclass(frozen=True)
class ReasoningOutput:
    """A generated text as a chain of language steps and a final answer."""

    steps: tuple[Step, ...]  # the sentences before the first '#', in order
    answer: str | None  # the text after the last '#', stripped (as scored); None when there is no '#'

    @property
    def answer_fact(self) -> tuple[str, str] | None:
        """(person, concept) of an answer of the form "Tom is a X."; None otherwise."""
        match = _SENTENCE.match(self.answer or "")
        return (match.group(2), match.group(3)) if match and not match.group(1) else None


_SENTENCE_END = re.compile(r"(?<=\.)\s+|\n")


def parse_output(text: str) -> ReasoningOutput:
    """A model's generated text ("Every A is a B.\\nEvery B is a C.\\n### Tom is a C.") as steps and answer.

    Steps are the sentences before the first '#' (split at line breaks and after each period); the
    answer is what scoring reads, the text after the last '#'. Continuous thoughts leave no text.
    """
    reasoning, hashes, _ = text.partition("#")
    steps = []
    for sentence in _SENTENCE_END.split(reasoning):
        sentence = sentence.strip()
        if sentence:
            match = _SENTENCE.match(sentence)
            steps.append(Step(sentence, match.group(2), match.group(3)) if match else Step(sentence, None, None))
    answer = text.rsplit("#", 1)[1].strip() if hashes else None
    return ReasoningOutput(tuple(steps), answer)


# ----------------------------------------------------------------------------------------------
# Statistics


def _summary(values: list[int]) -> dict:
    return {"mean": round(sum(values) / len(values), 3), "min": min(values), "max": max(values)} if values else {}


def longest_chain(children: list[list[int]], source: int, target: int) -> int:
    """Edges on the longest source -> target path (nodes in index order are a topological order)."""
    longest = {source: 0}
    for u in range(source, target):
        if u in longest:
            for v in children[u]:
                longest[v] = max(longest.get(v, 0), longest[u] + 1)
    return longest.get(target, -1)


def graph_features(ex: Example) -> dict[str, int]:
    """One example's graph, as numbers comparable across files (`data stats`, `data compare`)."""
    names, root, target, neg = ex["idx_to_symbol"], ex["root"], ex["target"], ex["neg_target"]
    children: list[list[int]] = [[] for _ in names]
    in_degree = [0] * len(names)
    for u, v in ex["edges"]:
        children[u].append(v)
        in_degree[v] += 1
    from_root, from_other = distances(children, root), distances(children, 1 - root)
    leaves = [v for v in range(len(names)) if in_degree[v] and not children[v]]
    query = ex["question"].rpartition(" Is ")[2]
    return {
        "nodes": len(names),
        "edges": len(ex["edges"]),
        "people": in_degree.count(0),
        # Reachable from both start nodes (Algorithm 1's label 3): the two sides' shared part.
        "shared_descendants": len(from_root.keys() & from_other.keys()),
        "root_exclusive_leaves": sum(v in from_root and v not in from_other for v in leaves),
        "other_exclusive_leaves": sum(v in from_other and v not in from_root for v in leaves),
        "reachable_from_root": len(from_root) - 1,
        "reachable_from_other": len(from_other) - 1,
        "longest_target_chain": longest_chain(children, root, target),
        "shortest_paths": shortest_path_counts(children, from_root, target)[root] if target in from_root else 0,
        "neg_target_depth": from_other.get(neg, -1),
        "target_in_degree": in_degree[target],
        "neg_target_in_degree": in_degree[neg],
        "root_is_node1": int(root == 1),
        "target_asked_first": int(query.split(" or ")[0].endswith(" " + names[target])),
    }


def features(examples: list[Example]) -> dict[str, list[int]]:
    """Per-example graph features of the well-formed ProsQA examples, feature by feature."""
    rows = [graph_features(ex) for ex in examples if recognizes(ex) and not _structure_problems(ex)]
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


def extra_stats(examples: list[Example]) -> dict:
    """Graph statistics for `data stats`, comparable between official and generated files."""
    examples = [ex for ex in examples if recognizes(ex) and not _structure_problems(ex)]
    if not examples:
        return {}
    in_degree: Counter[int] = Counter()
    out_degree: Counter[int] = Counter()
    for ex in examples:
        parents, kids = Counter(v for _, v in ex["edges"]), Counter(u for u, _ in ex["edges"])
        in_degree.update(parents[v] for v in range(len(ex["idx_to_symbol"])))
        out_degree.update(kids[v] for v in range(len(ex["idx_to_symbol"])))
    f = features(examples)

    def mean(name: str) -> float:
        return round(sum(f[name]) / len(f[name]), 3)

    return {
        "nodes": _summary(f["nodes"]),
        "edges": _summary(f["edges"]),
        "shortest_paths_mean": mean("shortest_paths"),
        "in_degree_histogram": {str(k): in_degree[k] for k in sorted(in_degree)},
        "out_degree_histogram": {str(k): out_degree[k] for k in sorted(out_degree)},
        "root_is_node1": mean("root_is_node1"),
        "target_asked_first": mean("target_asked_first"),
        "people": _summary(f["people"]),
        "four_or_more_people": round(sum(n >= 4 for n in f["people"]) / len(examples), 3),
        "shared_descendants": _summary(f["shared_descendants"]),
        "root_exclusive_leaves": _summary(f["root_exclusive_leaves"]),
        "other_exclusive_leaves": _summary(f["other_exclusive_leaves"]),
        "longest_target_chain": _summary(f["longest_target_chain"]),
        "reachable_from_root": mean("reachable_from_root"),
        "reachable_from_other": mean("reachable_from_other"),
        "neg_target_depth": mean("neg_target_depth"),
        "target_in_degree": mean("target_in_degree"),
        "neg_target_in_degree": mean("neg_target_in_degree"),
    }


def options(example: Example) -> tuple[str, str]:
    """The two answers that name an option: "Tom is a <target>." (gold) and "Tom is a <neg_target>."."""
    if isinstance(example.get("idx_to_symbol"), list):
        names = example["idx_to_symbol"]
        return example["answer"], f"{names[example['root']]} is a {names[example['neg_target']]}."
    graph = question_graph(example)
    return tuple(f"{graph.root} is a {option}." for option in graph.options)


TASK = Task(
    name="prosqa",
    description="ProsQA: which of two concepts a person is, by a shortest chain of 'is a' facts (Coconut paper)",
    check=check_example,
    recognizes=recognizes,
    extra_stats=extra_stats,
    features=features,
    default_sizes=DEFAULT_SIZES,
    generate_default=generate_default,
    version=VERSION,
    generator=ProsQASettings,
    table_column=2,
    options=options,
)


# ----------------------------------------------------------------------------------------------
# The best-known shortcut: a benchmark's floor for "reasoning"

START_NODES = (0, 1)  # Algorithm 1 grows every graph from two start nodes: the question's two people


def farther_option(example: Example) -> str:
    """What a model that never searches could answer: the option farther (in edges) from the nearest
    start node, since the other option tends to hang near the top of the graph. 'right', 'other', or
    'tie' (equally far, or both unreachable). On the official ProsQA test it is right on 438 of 500
    questions and ties on 62 (93.8% with ties as coin flips): accuracy near it says nothing about search."""
    n = 1 + max(max(max(edge) for edge in example["edges"]), example["target"], example["neg_target"], *START_NODES)
    children: list[list[int]] = [[] for _ in range(n)]
    for u, v in example["edges"]:
        children[u].append(v)
    dist = distances(children, *START_NODES)
    far = n + 1  # unreachable: farther than any path
    right, other = dist.get(example["target"], far), dist.get(example["neg_target"], far)
    return "right" if right > other else "other" if other > right else "tie"


def shortcut_accuracy(examples: list[Example]) -> float:
    """The farther-option shortcut's expected accuracy on `examples` (a tie counts half)."""
    picks = [farther_option(e) for e in examples]
    return (picks.count("right") + picks.count("tie") / 2) / len(picks) if picks else 0.0
