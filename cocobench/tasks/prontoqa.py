"""ProntoQA: "True or false: Max is not wooden." over a fictional ontology (Saparov & He 2022).

The Coconut paper uses the original generator's 5-hop, fictional, "relevant distractors",
random-order setting; docs/tasks.md lists what its examples look like, and this module makes
examples of that shape. Data flows top to bottom: `build_ontology` draws the concepts, rules and
the proved property, `render_example` writes the context, query and proof in the original templates
and applies Coconut's preprocessing (question = context + " " + query; the chain-of-thought
sentences joined two at a time into steps). `check_example` verifies any ProntoQA example, generated
or not, by parsing its sentences and forward chaining.

Shape of every example (hops = h, 5 by default; the counts in brackets are for h = 5):
- a main chain of h + 1 concepts c0 (top) .. c_h; the person is a c_h; the proof climbs
  c_h -> .. -> c1 by h - 1 is-a rules and ends with c1's property (h hops, 2h + 1 = 11 sentences,
  h + 1 = 6 steps);
- each of c1 .. c_h has one extra parent concept; a separate chain e1 -> e0 with the person an e1;
  one more concept has the proved adjective with the opposite polarity and is mentioned nowhere else
  (2h + 4 = 14 concepts, 2h + 1 = 11 is-a rules);
- properties go where the original's theory builder puts them: never on a tree's root, so c0 and
  e0 have none; c1 .. c_h, the extra parents and e1 have one each, from distinct families (12
  property sentences with the distractor), so the queried adjective appears exactly twice;
- the rules come first, shuffled; the two membership sentences last, in random order.
Polarity is the original's process, not its marginals: the theory builder negates a property a
third of the time (a family's k adjectives weigh 1 each, their k negations 1/2 each), and the proof
walk starts at c_h and at each concept either climbs (weight 1) or stops at the concept's property
(weight 0.3 if positive, 0.7 if negated); a walk that does not stop exactly at c1 (h hops) is
rejected. `walk_accepts` simulates that walk and the chain's polarities are redrawn until it accepts;
the walk reads nothing but those polarities, so this gives the same joint distribution as rejecting
whole ontologies. Hence c1's property is negated 47% of the time, c2 .. c5's 28%, and "True iff
the query is not negated" scores 53% instead of 67%.
The query states the proved fact (answer "True") or its negation ("False") by a fair coin per
example, as in the original (`balanced=True` instead gives each split exactly as many True as False
answers, one extra drawn at random when its size is odd).
`--hops` goes up to 6: 2h + 4 concepts must come from 17 names and 2h + 1 families from 13.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cocobench.errors import CocobenchError
from cocobench.examples import Example
from cocobench.tasks.base import Task, check_sizes, generation_order, report_progress, write_default_splits
from cocobench.tasks.generator import GeneratorSettings, gen_setting, out_setting, overwrite_setting, seed_setting, split_setting

VERSION = "2"  # 2: property placement and polarity follow the original's theory builder and proof walk

NAMES = ("Alex", "Fae", "Max", "Polly", "Rex", "Sally", "Sam", "Stella", "Wren")
CONCEPTS = ("brimpus", "dumpus", "gorpus", "grimpus", "impus", "jompus", "lempus", "lorpus", "numpus",
            "rompus", "shumpus", "sterpus", "tumpus", "vumpus", "wumpus", "yumpus", "zumpus")  # fmt: skip
# A concept's property comes from one family; families are distinct within an example.
PROPERTY_FAMILIES = (
    ("blue", "red", "brown", "orange"), ("small", "large"), ("metallic", "wooden", "luminous", "liquid"),
    ("transparent", "opaque"), ("nervous", "happy", "feisty", "shy"), ("bright", "dull"),
    ("sweet", "sour", "spicy", "bitter"), ("floral", "fruity", "earthy"), ("hot", "cold", "temperate"),
    ("kind", "mean", "angry", "amenable", "aggressive"), ("melodic", "muffled", "discordant", "loud"),
    ("slow", "moderate", "fast"), ("windy", "sunny", "overcast", "rainy", "snowy"),
)  # fmt: skip
ADJECTIVES = frozenset(adjective for family in PROPERTY_FAMILIES for adjective in family)

HOPS = 5  # the paper's setting
DEFAULT_SIZES = (9000, 200, 800)  # the paper's train / valid / test
MAX_HOPS = min((len(CONCEPTS) - 4) // 2, (len(PROPERTY_FAMILIES) - 1) // 2)  # vocabulary limit: 6
# Template frequencies measured on the original generator: "Xs are Ys." 50%, "Each X is a Y." 25%,
# "Every X is a Y." 25% (properties alike).
P_PLURAL, P_EACH = 0.5, 0.25
# The original's theory builder: a family's adjectives weigh 1 each, their negations 1/2 each.
P_NEGATED = 1 / 3
# The original's proof walk: stopping weights of a positive / negated property against 1 for climbing.
STOP_POSITIVE, STOP_NEGATED = 0.3, 0.7
QUERY_PREFIX = "True or false: "

# Give up after this many duplicate questions in a row (the space is huge; this is a safety net).
STALL_LIMIT = 1000


# ----------------------------------------------------------------------------------------------
# Statements: one class for rules ("Every wumpus is wooden.") and facts ("Max is a wumpus.")


@dataclass(frozen=True)
class Statement:
    subject: str  # a person's name (a fact) or a concept (a rule about all its members)
    predicate: str  # a concept (is-a) or an adjective (property)
    negated: bool = False

    @property
    def is_rule(self) -> bool:
        return self.subject[0].islower()  # concepts are lower case, names capitalised

    @property
    def is_a(self) -> bool:
        return self.predicate not in ADJECTIVES


def plural(concept: str) -> str:
    return concept + "es"  # every fictional concept ends in "-pus": wumpus -> wumpuses


def with_article(concept: str) -> str:
    return ("an " if concept[0] in "aeiou" else "a ") + concept


def clause(s: Statement) -> str:
    """'{subject} is (not) {a concept | adjective}.': a fact as written, and a rule after Each/Every."""
    obj = with_article(s.predicate) if s.is_a else s.predicate
    return f"{s.subject} is {'not ' if s.negated else ''}{obj}."


def rule_forms(rule: Statement) -> tuple[str, str, str]:
    """The three templates of a rule: 'Xs are (not) Ys.', 'Each X is (not) a Y.', 'Every X ...'."""
    obj = plural(rule.predicate) if rule.is_a else rule.predicate
    return (
        f"{plural(rule.subject).capitalize()} are {'not ' if rule.negated else ''}{obj}.",
        f"Each {clause(rule)}",
        f"Every {clause(rule)}",
    )


def renderings(s: Statement) -> tuple[str, ...]:
    """Every way the generator may write `s` (the checker accepts a sentence only if it is one)."""
    return rule_forms(s) if s.is_rule else (clause(s),)


# ----------------------------------------------------------------------------------------------
# Generation


@dataclass(frozen=True)
class Ontology:
    person: str
    chain: list[str]  # c0 (top) .. c_hops; the person is a c_hops
    other: str  # e1: the person is also one; nothing about it matters to the query
    rules: list[Statement]  # every is-a and property rule of the context
    proved: Statement  # c1's property: the proof's last rule


def walk_accepts(rng: random.Random, negated: list[bool]) -> bool:
    """The original's proof walk up c_hops .. c1 (their properties' polarities, c1's first): True
    when it stops at c1's property, after exactly `hops` hops."""
    for i in range(len(negated) - 1, -1, -1):  # c_hops first
        stop = STOP_NEGATED if negated[i] else STOP_POSITIVE
        if rng.random() * (1 + stop) >= 1:  # stopped at this concept's property
            return i == 0
    return False  # climbed past c1 to c0 (no property there): too many hops


def chain_polarities(rng: random.Random, hops: int) -> list[bool]:
    """Whether each of c1 .. c_hops's properties is negated, given the proof walk accepted them."""
    while True:
        negated = [rng.random() < P_NEGATED for _ in range(hops)]
        if walk_accepts(rng, negated):
            return negated


def build_ontology(rng: random.Random, hops: int) -> Ontology:
    """The concepts and rules of one example (shape in the module docstring)."""
    names = rng.sample(CONCEPTS, 2 * hops + 4)
    chain, extra_parents = names[: hops + 1], names[hops + 1 : 2 * hops + 1]
    e0, e1, opposite = names[2 * hops + 1 :]
    rules = [Statement(chain[i], chain[i - 1]) for i in range(1, hops + 1)]
    rules += [Statement(child, parent) for child, parent in zip(chain[1:], extra_parents)]
    rules.append(Statement(e1, e0))
    # Roots of trees (c0, e0) carry no property, as in the original's theory builder.
    with_property = chain[1:] + extra_parents + [e1]
    negated = chain_polarities(rng, hops) + [rng.random() < P_NEGATED for _ in range(hops + 1)]
    families = rng.sample(PROPERTY_FAMILIES, len(with_property))
    properties = [Statement(c, rng.choice(f), neg) for c, f, neg in zip(with_property, families, negated)]
    proved = properties[0]
    # The "relevant" distractor: the proved adjective, opposite polarity, on a concept the person is not.
    properties.append(Statement(opposite, proved.predicate, not proved.negated))
    return Ontology(rng.choice(NAMES), chain, e1, rules + properties, proved)


def render_rule(rng: random.Random, rule: Statement) -> str:
    plural_form, each_form, every_form = rule_forms(rule)
    draw = rng.random()
    return plural_form if draw < P_PLURAL else each_form if draw < P_PLURAL + P_EACH else every_form


def chain_of_thought(onto: Ontology, written: dict[Statement, str]) -> list[str]:
    """Membership, then rule and derived fact in turn; rules reuse the context's wording."""
    person, chain = onto.person, onto.chain
    sentences = [clause(Statement(person, chain[-1]))]
    for i in range(len(chain) - 1, 1, -1):  # c_hops -> c_hops-1, ..., c2 -> c1
        sentences += [written[Statement(chain[i], chain[i - 1])], clause(Statement(person, chain[i - 1]))]
    proved = onto.proved
    return sentences + [written[proved], clause(Statement(person, proved.predicate, proved.negated))]


def pair_up(sentences: list[str]) -> list[str]:
    """Coconut's preprocessing: chain-of-thought sentences joined two at a time (11 -> 6 steps)."""
    return [" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]


def render_example(rng: random.Random, onto: Ontology, answer: bool) -> Example:
    """Context (shuffled rules, then both memberships), query, steps, answer in Coconut's format."""
    written = {rule: render_rule(rng, rule) for rule in onto.rules}
    rules = list(written.values())
    rng.shuffle(rules)
    memberships = [clause(Statement(onto.person, onto.chain[-1])), clause(Statement(onto.person, onto.other))]
    rng.shuffle(memberships)
    proved = onto.proved
    # A False answer asks about the negation of what the proof derives.
    query = clause(Statement(onto.person, proved.predicate, proved.negated if answer else not proved.negated))
    return {
        "question": " ".join(rules + memberships) + " " + QUERY_PREFIX + query,
        "steps": pair_up(chain_of_thought(onto, written)),
        "answer": str(answer),
    }


def validate_hops(hops: int) -> None:
    if not 1 <= hops <= MAX_HOPS:
        raise CocobenchError(
            f"--hops must be between 1 and {MAX_HOPS} ({len(CONCEPTS)} concept names and "
            f"{len(PROPERTY_FAMILIES)} property families fit no more), got {hops}"
        )


def example_key(example: Example) -> tuple:
    """Identity of a question regardless of sentence order (a reshuffled context is a duplicate)."""
    context, _, query = example["question"].rpartition(" " + QUERY_PREFIX)
    return tuple(sorted(split_sentences(context))), query


def draw_answers(rng: random.Random, size: int, balanced: bool) -> list[bool]:
    """A fair coin per example (the original), or exactly half True per split when `balanced`."""
    if not balanced:
        return [rng.random() < 0.5 for _ in range(size)]
    answers = [True, False] * (size // 2) + ([rng.random() < 0.5] if size % 2 else [])
    rng.shuffle(answers)
    return answers


def new_example(rng: random.Random, hops: int, answer: bool, seen: set[tuple]) -> Example:
    """One example whose question is not in `seen` (and add it there)."""
    for _ in range(STALL_LIMIT):
        example = render_example(rng, build_ontology(rng, hops), answer)
        key = example_key(example)
        if key not in seen:
            seen.add(key)
            return example
    raise CocobenchError(f"no new {hops}-hop question in {STALL_LIMIT} tries; ask for fewer examples")


def generate_splits(
    seed: int,
    sizes: dict[str, int],
    hops: int = HOPS,
    progress: Callable[[str, int], None] | None = None,
    balanced: bool = False,
) -> dict[str, list[Example]]:
    """Splits of the requested sizes, deterministic for `seed`; no question appears twice.

    Each split has its own random stream (seeded by seed and split name), and test is drawn first,
    then valid, then train, skipping questions already drawn: the test set does not depend on the
    train size. `progress(split, n)` is told about every n new examples. `balanced`: exactly as
    many True as False answers per split instead of a coin per example.
    """
    check_sizes(sizes)
    validate_hops(hops)
    seen: set[tuple] = set()
    splits: dict[str, list[Example]] = {}
    for split in generation_order(sizes):
        rng = random.Random(f"prontoqa-{VERSION}-{seed}-{split}")
        examples: list[Example] = []
        for answer in draw_answers(rng, sizes[split], balanced):
            examples.append(new_example(rng, hops, answer, seen))
            report_progress(progress, split, len(examples), sizes[split])
        splits[split] = examples
    return {split: splits[split] for split in sizes}


def meta(seed: int, sizes: dict[str, int], hops: int = HOPS, balanced: bool = False) -> dict:
    """meta.json for `write_splits`: what made the files, enough to make them again."""
    params = {**sizes, "hops": hops, "balanced": balanced, "p_plural": P_PLURAL, "p_each": P_EACH,
              "p_negated": P_NEGATED, "stop_positive": STOP_POSITIVE, "stop_negated": STOP_NEGATED}  # fmt: skip
    return {"generator": "prontoqa", "version": VERSION, "seed": seed, "params": params}


def generate_default(out_dir: Path, seed: int = 0) -> None:
    """Write the paper-sized splits (9000 / 200 / 800) into out_dir, as `cocobench gen prontoqa` does."""
    write_default_splits(out_dir, TASK.default_sizes, generate_splits, meta, seed)


@dataclass
class ProntoQASettings(GeneratorSettings):
    """Generate ProntoQA train/valid/test splits (fictional ontology, 'True or false' queries), deterministic for --seed."""

    out: Path | None = out_setting("prontoqa")
    overwrite: bool = overwrite_setting()
    seed: int = seed_setting()
    train: int = split_setting(DEFAULT_SIZES[0], "Number of training examples (paper: 9000).")
    valid: int = split_setting(DEFAULT_SIZES[1], "Number of validation examples (paper: 200).")
    test: int = split_setting(DEFAULT_SIZES[2], "Number of test examples (paper: 800); independent of --train.")
    hops: int = gen_setting(HOPS, f"Reasoning hops per question (paper: 5; 1..{MAX_HOPS}); the proof has 2*hops+1 sentences, hops+1 steps.",
                            check=lambda option, value: validate_hops(value))
    balanced: bool = gen_setting(False, "Exactly as many True as False answers per split (default: a fair coin per example, as the "
                                        "original generator does).")

    def task_name(self) -> str:
        return TASK.name

    def check_together(self) -> None:
        odd = [name for name, size in self.sizes.items() if size % 2]
        if self.balanced and odd:  # half True, half False: an odd split cannot be, and meta.json would say it is
            raise CocobenchError(f"--balanced needs even split sizes, but --{odd[0]} is {self.sizes[odd[0]]}; make it even or leave out --balanced")

    def splits(self, progress: Callable[[str, int], None]) -> dict[str, list[Example]]:
        return generate_splits(self.seed, self.sizes, self.hops, progress=progress, balanced=self.balanced)

    def meta(self) -> dict:
        return meta(self.seed, self.sizes, self.hops, self.balanced)


# ----------------------------------------------------------------------------------------------
# Checking: parse every sentence, forward-chain from the person's memberships, walk the proof

_SINGULAR = re.compile(r"^(?:(?:Each|Every) )?(\w+) is (not )?(?:an? )?(\w+)\.$")
_PLURAL = re.compile(r"^(\w+)es are (not )?(\w+)\.$")


def split_sentences(text: str) -> list[str]:
    return re.split(r"(?<=\.) ", text) if text else []


@functools.lru_cache(maxsize=1 << 16)  # the vocabulary is small: files repeat the same sentences
def parse(sentence: str) -> Statement | None:
    """The statement a sentence makes, or None unless it is exactly one the generator would write."""
    if match := _SINGULAR.match(sentence):
        statement = Statement(match.group(1), match.group(3), bool(match.group(2)))
    elif match := _PLURAL.match(sentence):
        obj = match.group(3)
        # "Xs are Ys.": Ys is a plural concept unless it is a property.
        predicate = obj if obj in ADJECTIVES else obj[:-2] if obj.endswith("es") else obj
        statement = Statement(match.group(1).lower(), predicate, bool(match.group(2)))
    else:
        return None
    return statement if sentence in renderings(statement) else None


def derive(context: list[Statement], person: str) -> set[tuple[str, bool]]:
    """Everything the context proves about `person`, as (predicate, negated), by forward chaining."""
    rules: dict[str, list[Statement]] = {}
    for s in context:
        if s.is_rule:
            rules.setdefault(s.subject, []).append(s)
    known = {(s.predicate, s.negated) for s in context if s.subject == person}
    frontier = [predicate for predicate, negated in known if not negated and predicate not in ADJECTIVES]
    while frontier:
        for rule in rules.get(frontier.pop(), []):
            if (rule.predicate, rule.negated) not in known:
                known.add((rule.predicate, rule.negated))
                if rule.is_a and not rule.negated:  # only membership lets further rules apply
                    frontier.append(rule.predicate)
    return known


def _parse_question(question: str) -> tuple[list[str], list[Statement], Statement] | str:
    """Context sentences, their statements and the query; a problem string if they do not parse."""
    context, sep, query_text = question.rpartition(" " + QUERY_PREFIX)
    query = parse(query_text) if sep else None
    if query is None or query.is_rule:
        return f"question must end with '{QUERY_PREFIX}{{Name}} is (not) {{property}}.'"
    sentences = split_sentences(context)
    statements = [parse(s) for s in sentences]
    for i, (sentence, statement) in enumerate(zip(sentences, statements)):
        if statement is None:
            return f"context sentence {i + 1} {sentence!r} is not a ProntoQA fact or rule"
    return sentences, statements, query


def _answer_problems(answer: str, known: set[tuple[str, bool]], query: Statement) -> list[str]:
    holds, fails = (query.predicate, query.negated) in known, (query.predicate, not query.negated) in known
    if holds and fails:
        return [f"the context proves both '{clause(query)}' and its negation"]
    if not holds and not fails:
        return [f"the context proves neither '{clause(query)}' nor its negation"]
    if answer != str(holds):
        return [f"answer must be '{holds}': the context proves {'it' if holds else 'its negation'}, got {answer!r}"]
    return []


def _proof_problems(steps: list[str], context: list[str], query: Statement, answer: str) -> list[str]:
    """The steps are the proof's sentences two at a time: membership, then (rule, derived fact)s."""
    sentences = [s for step in steps for s in split_sentences(step)]
    if not sentences or steps != pair_up(sentences) or len(sentences) % 2 == 0:
        return ["steps must be an odd number of sentences (membership, then rule and fact in turn), two per step"]
    stated = set(context)
    current = parse(sentences[0])
    if sentences[0] not in stated or current is None or current.subject != query.subject:
        return [f"proof must start with a membership of {query.subject} stated in the context, got {sentences[0]!r}"]
    for i in range(1, len(sentences), 2):
        rule = parse(sentences[i]) if sentences[i] in stated else None
        # Only a membership ("Max is a wumpus.") lets a rule about that concept apply.
        applies = current.is_a and not current.negated and rule is not None and rule.subject == current.predicate
        if not applies:
            return [f"proof sentence {i + 1} {sentences[i]!r} is not a context rule about {current.predicate}"]
        current = Statement(query.subject, rule.predicate, rule.negated)
        if sentences[i + 1] != clause(current):
            return [f"proof sentence {i + 2} {sentences[i + 1]!r} does not follow; expected {clause(current)!r}"]
    if current.predicate != query.predicate or (current.negated == query.negated) != (answer == "True"):
        return [f"proof ends with {clause(current)!r}, which does not give the answer {answer!r} to the query"]
    return []


def check_example(example: Example) -> list[str]:
    """Problems with one ProntoQA example (empty list = valid)."""
    for field, kind in (("question", str), ("answer", str), ("steps", list)):
        if not isinstance(example.get(field), kind):
            return [f"field '{field}' missing or not a {kind.__name__}"]
    parsed = _parse_question(example["question"])
    if isinstance(parsed, str):
        return [parsed]
    sentences, statements, query = parsed
    known = derive(statements, query.subject)
    answer = example["answer"]
    return _answer_problems(answer, known, query) + _proof_problems(example["steps"], sentences, query, answer)


def recognizes(example: Example) -> bool:
    question = example.get("question")
    return (
        "edges" not in example  # ProsQA's graph field
        and example.get("answer") in ("True", "False")
        and isinstance(question, str)
        and " " + QUERY_PREFIX in question
    )


# ----------------------------------------------------------------------------------------------
# Statistics


def ontology_features(ex: Example) -> dict[str, int] | None:
    """Where the properties sit and how they are negated, by concept role; None unless it parses.

    Roles come from the proof: c_h .. c2 are the concepts it climbs through, c1 the subject of its
    last (property) rule; e1 is the person's other membership and e0 e1's parents.
    """
    parsed = _parse_question(ex["question"])
    if isinstance(parsed, str) or not ex["steps"]:
        return None
    _, statements, query = parsed
    proof = [parse(s) for step in ex["steps"] for s in split_sentences(step)]
    rules = [s for s in proof[1::2] if s is not None and s.is_rule]
    if not rules or rules[-1].is_a or proof[0] is None:
        return None
    chain, proved = [r.subject for r in rules], rules[-1]  # c_h .. c1
    properties: dict[str, list[bool]] = {}  # concept -> negated, per property rule
    parents: dict[str, list[str]] = {}
    others = []  # e1: the person's membership that the proof does not start from
    for st in statements:
        if st.subject == query.subject:
            if st.predicate != proof[0].predicate:
                others.append(st.predicate)
        elif st.predicate in ADJECTIVES:
            properties.setdefault(st.subject, []).append(st.negated)
        else:
            parents.setdefault(st.subject, []).append(st.predicate)
    negated = [n for ns in properties.values() for n in ns]
    return {
        "proved_negated": int(proved.negated),
        "query_negated": int(query.negated),
        "answer_true": int(ex["answer"] == "True"),
        # The shortcut "True iff the query is not negated": right exactly when the proved property is positive.
        "shortcut_correct": int((not query.negated) == (ex["answer"] == "True")),
        "negated_below_c1": sum(n for c in chain[:-1] for n in properties.get(c, [])),
        "c1_parents_with_property": sum(bool(properties.get(c)) for c in parents.get(chain[-1], [])),
        "e1_has_property": int(any(properties.get(c) for c in others)),
        "e0_has_property": int(any(properties.get(p) for c in others for p in parents.get(c, []))),
        "negated_properties": sum(negated),
        "property_sentences": len(negated),
    }


def features(examples: list[Example]) -> dict[str, list[int]]:
    """Per-example placement and polarity features of the ProntoQA examples that parse."""
    rows = [row for ex in examples if recognizes(ex) and (row := ontology_features(ex)) is not None]
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


def extra_stats(examples: list[Example]) -> dict:
    """Proof length, context size, query polarity, and property placement by role for `data stats`."""
    from cocobench.summaries import histogram, summary

    hops, sentence_counts, concept_counts, negated = [], [], [], 0
    for ex in examples:
        parsed = _parse_question(ex["question"]) if recognizes(ex) else "not ProntoQA"
        if isinstance(parsed, str):
            continue
        sentences, statements, query = parsed
        hops.append((sum(len(split_sentences(step)) for step in ex["steps"]) - 1) // 2)
        sentence_counts.append(len(sentences))
        concepts = {s.subject for s in statements if s.is_rule} | {s.predicate for s in statements if s.is_a}
        concept_counts.append(len(concepts))
        negated += query.negated
    if not hops:
        return {}
    stats = {
        "hops_histogram": histogram(hops),
        "context_sentences": summary(sentence_counts),
        "concepts": summary(concept_counts),
        "negated_queries": round(negated / len(hops), 3),
    }
    f = features(examples)
    if f:

        def mean(name: str) -> float:
            return round(sum(f[name]) / len(f[name]), 3)

        stats |= {
            "proved_property_negated": mean("proved_negated"),
            "negated_properties_c2_to_ch": mean("negated_below_c1"),
            "c1_parents_with_property": mean("c1_parents_with_property"),
            "e1_has_property": mean("e1_has_property"),
            "e0_has_property": mean("e0_has_property"),
            "negated_property_sentences": round(sum(f["negated_properties"]) / max(1, sum(f["property_sentences"])), 3),
            "shortcut_not_negated_accuracy": mean("shortcut_correct"),
        }
    return stats


TASK = Task(
    name="prontoqa",
    description="ProntoQA: is a property true of a person, by 5 hops over a fictional ontology (Coconut paper)",
    check=check_example,
    recognizes=recognizes,
    extra_stats=extra_stats,
    features=features,
    default_sizes=DEFAULT_SIZES,
    generate_default=generate_default,
    version=VERSION,
    generator=ProntoQASettings,
    table_column=1,
    options=lambda example: ("True", "False"),
)
