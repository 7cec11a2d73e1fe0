"""CODI (docs/methods.md): sequences and loss masks, the distillation position, the loss against a plain slow
reference, the thought projection in generation, and the method end to end (run, eval, checkpoint)."""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F

from cocobench.config import RunConfig
from cocobench.engine import LatentLM, attach_projection, generate, latent_forward, thought_projection
from cocobench.errors import CocobenchError
from cocobench.methods import get_method
from cocobench.methods.base import IGNORE
from cocobench.methods.codi import answer_trigger
from cocobench.models import build_model_and_tokenizer
from cocobench.tokenizer import BOT, EOS, EOT, LATENT, token_ids
from tests.conftest import lm_head_inputs

EXAMPLES = [
    {"question": "Tom is a wumpus. Every wumpus is a yumpus. Every yumpus is a zumpus. Is Tom a zumpus or a lempus?",
     "steps": ["Tom is a wumpus.", "Every wumpus is a yumpus.", "Every yumpus is a zumpus."], "answer": "Tom is a zumpus."},
    {"question": "Sally is a rempus. Every rempus is a lorpus. Is Sally a lorpus?",
     "steps": ["Sally is a rempus.", "Every rempus is a lorpus."], "answer": "Sally is a lorpus."},
    {"question": "Is Max a gorpus? Max is a gorpus.", "steps": ["Max is a gorpus."], "answer": "Max is a gorpus."},
]
TEXTS = [e["question"] + "\n" + "\n".join(e["steps"]) + "\n### " + e["answer"] for e in EXAMPLES]
TOL = 1e-5


def codi(name: str = "codi", tokenizer=None, **settings):
    cfg = RunConfig(method=name, codi_thoughts=2, **settings)
    return get_method(name, cfg, tokenizer)


@pytest.fixture(scope="module", params=["gpt2-tiny", "llama-tiny"])
def setup(request):
    torch.set_num_threads(1)
    model, tokenizer = build_model_and_tokenizer(request.param, TEXTS, seed=0)
    ids = token_ids(tokenizer)
    with torch.no_grad():  # the latent tokens start as copies of one word; break the ties
        weight = model.get_input_embeddings().weight
        rows = [ids.bot, ids.latent, ids.eot]
        weight[rows] += 0.05 * torch.randn(len(rows), weight.shape[1], generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    attach_projection(model, model.config.get_text_config().hidden_size)
    model.eval()
    return model, tokenizer, ids


@pytest.fixture(scope="module")
def word_tokenizer():
    return build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)[1]


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([i for i in ids if i != IGNORE], skip_special_tokens=False).replace(" ", "")


def sequence(method, example):
    return method.train_sequence(example, epoch=0, batch_index=0, batches_per_epoch=1, rng=random.Random(0))


# --- sequences and loss masks ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, steps", [("codi", 2), ("codi-no-distill", 2), ("codi-no-projection", 2), ("codi-keep-last-step", 3)])
def test_student_and_teacher_sequences_and_loss_masks(word_tokenizer, name, steps):
    tok = word_tokenizer
    method = codi(name, tok)
    s = sequence(method, EXAMPLES[0])
    ex = EXAMPLES[0]
    question, answer = ex["question"] + "\n", "### " + ex["answer"] + EOS
    chain = "".join(step + "\n" for step in ex["steps"][:steps])
    squash = lambda text: text.replace(" ", "")  # noqa: E731  (the word-level decode spaces every token)
    assert decode(tok, s.input_ids) == squash(question + BOT + LATENT * 2 + EOT + answer)
    assert decode(tok, s.labels) == squash(answer)  # student: loss on the answer segment only
    n_question = len(method.segments(ex).question)
    assert s.labels[: len(s.input_ids) - len(method.segments(ex).answer)] == [IGNORE] * (len(s.input_ids) - len(method.segments(ex).answer))
    assert decode(tok, s.teacher_input_ids) == squash(question + chain + answer)
    assert s.teacher_labels[:n_question] == [IGNORE] * n_question and s.teacher_labels[n_question:] == s.teacher_input_ids[n_question:]
    # the distillation position: the last "#" of "###", whose next-token prediction is the answer's first word
    for ids_row, position in ((s.input_ids, s.student_position), (s.teacher_input_ids, s.teacher_position)):
        assert tok.convert_ids_to_tokens(ids_row[position - 2 : position + 2]) == ["#", "#", "#", " Tom"]
    assert method.inference_prompt(ex) == list(method.segments(ex).question) + [method.ids.bot] + [method.ids.latent] * 2 + [method.ids.eot]
    assert method.inference_prompt(ex, k=5).count(method.ids.latent) == 5


def test_a_one_step_teacher_keeps_no_step(word_tokenizer):
    s = sequence(codi("codi", word_tokenizer), EXAMPLES[2])
    assert decode(word_tokenizer, s.teacher_input_ids) == (EXAMPLES[2]["question"] + "\n### " + EXAMPLES[2]["answer"] + EOS).replace(" ", "")


class Pieces:
    """A stub tokenizer over a fixed list of string pieces: decode concatenates them."""

    def __init__(self, pieces):
        self.pieces = pieces

    def decode(self, ids, skip_special_tokens=False):
        return "".join(self.pieces[i] for i in ids if not (skip_special_tokens and self.pieces[i] == "</s>"))


@pytest.mark.parametrize("pieces, trigger", [
    (["###", " Tom", " is", "</s>"], 1),  # GPT-2 style: " Tom" carries text; the position is "###"
    (["###", " ", "Tom", " is", "</s>"], 2),  # " A" split into " " and "A": one later (the " ")
    (["###", " ", " ", "Tom", "</s>"], 3),
    (["### Tom", " is", "</s>"], 0),  # merged: the token before the segment
    (["###", "</s>"], 1),  # no answer text: the EOS
    (["#", "#", "#", " Tom", "</s>"], 3),  # the word-level tokenizer's ###: the last "#"
    (["##", "#", " #5", "</s>"], 2),  # an answer that starts with "#"
])
def test_distillation_position_from_decoded_prefixes(pieces, trigger):
    assert answer_trigger(Pieces(pieces), tuple(range(len(pieces)))) == trigger


def test_distillation_position_with_the_word_level_tokenizer(word_tokenizer):
    method = codi("codi", word_tokenizer)
    answer = method.segments(EXAMPLES[1]).answer
    assert answer_trigger(word_tokenizer, answer) == 3 and word_tokenizer.convert_ids_to_tokens(list(answer[:4])) == ["#", "#", "#", " Sally"]


def test_codi_rejects_the_stop_classifier(word_tokenizer):
    with pytest.raises(CocobenchError, match="fixed number of thoughts"):
        codi("codi", word_tokenizer, latent_stop="classifier")


def test_codi_settings_are_options_of_codi_runs_only():
    assert not any(name.startswith("codi") for name in RunConfig(method="cot").options())
    assert not any(name.startswith("codi") for name in RunConfig(method="coconut").options())
    options = RunConfig(method="codi-no-distill").options()
    assert {k: v for k, v in options.items() if k.startswith("codi")} == {"codi_thoughts": 6, "codi_teacher_weight": 1.0, "codi_distill_weight": 1.0, "codi_loss": "smooth_l1"}
    assert RunConfig(method="codi", task="prosqa").run_name() == "prosqa-codi-seed0"
    assert RunConfig(method="codi", task="prosqa", codi_thoughts=3).run_name() == "prosqa-codi-codi-thoughts3-seed0"
    with pytest.raises(CocobenchError, match="--codi-loss must be one of smooth_l1, l1"):
        RunConfig(codi_loss="l2").validate()


def test_codi_records_none_of_the_curriculum_settings_it_ignores(tmp_path):
    """CODI trains one stage of codi_thoughts thoughts: c, max_latent_stage, ... are not its options, so runs
    that differ only in them pair, and results written when they were read as options still pair."""
    from cocobench.results import read_results
    from tests.helpers import make_results

    plain, curriculum = RunConfig(method="codi"), RunConfig(method="codi", c=2, max_latent_stage=3, epochs_per_stage=1)
    assert plain.options() == curriculum.options() and not {"c", "max_latent_stage", "epochs_per_stage"} & plain.options().keys()
    assert RunConfig(method="codi", task="prosqa", c=2).run_name() == "prosqa-codi-seed0"
    assert {"c", "max_latent_stage"} <= RunConfig(method="coconut").options().keys() <= RunConfig(method="pause").options().keys() | {"k"}
    old = make_results(method="codi", options={"c": 2, "max_latent_stage": 3, "codi_thoughts": 6})
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert read_results(tmp_path / "results.json")["options"] == {"codi_thoughts": 6, "precision": "fp32"}


# --- the loss against a slow reference ----------------------------------------------------------------

def reference_states(model, ids_row: list[int], latent_id: int):
    """One row alone: each latent in turn gets the projected last hidden state of a full re-run of the
    sequence so far; returns every layer's hidden states (L+1 of (T, C)) and the logits (T, V)."""
    embed, body, head = model.get_input_embeddings(), model.base_model, model.get_output_embeddings()
    project = thought_projection(model)
    row = torch.tensor(ids_row)
    x = embed(row)
    for p in (row == latent_id).nonzero().flatten().tolist():
        thought = body(inputs_embeds=x[None, :p]).last_hidden_state[0, -1]
        x = torch.cat([x[:p], (project(thought) if project is not None else thought)[None], x[p + 1 :]])
    out = body(inputs_embeds=x[None], output_hidden_states=True)
    return [h[0] for h in out.hidden_states], head(out.last_hidden_state[0])


def reference_codi_loss(model, sequences, latent_id: int, *, teacher_weight=1.0, distill_weight=1.0, distance="smooth_l1", detach_teacher=True):
    """CODI's loss written plainly: rows one at a time, unpadded; the batch's CE means over labelled tokens."""
    ce = {"student": [0.0, 0], "teacher": [0.0, 0]}
    picked = {"student": [], "teacher": []}
    for s in sequences:
        for who, ids_row, labels, position in (("student", s.input_ids, s.labels, s.student_position), ("teacher", s.teacher_input_ids, s.teacher_labels, s.teacher_position)):
            layers, logits = reference_states(model, ids_row, latent_id)
            targets = torch.tensor(labels[1:])
            ce[who][0] = ce[who][0] + F.cross_entropy(logits[:-1], targets, ignore_index=IGNORE, reduction="sum")
            ce[who][1] += int((targets != IGNORE).sum())
            picked[who].append([h[position] for h in layers])
    per_layer = []
    for layer in range(len(picked["student"][0])):
        hs = torch.stack([row[layer] for row in picked["student"]])  # (B, C)
        ht = torch.stack([row[layer] for row in picked["teacher"]])
        if detach_teacher:
            ht = ht.detach()
        d = F.smooth_l1_loss(hs, ht) if distance == "smooth_l1" else (hs - ht).abs().mean()
        per_layer.append(d / ht.std())
    distill = sum(per_layer) / len(per_layer)
    student, teacher = (ce[w][0] / ce[w][1] for w in ("student", "teacher"))
    return student + distill_weight * distill + teacher_weight * teacher, {"student": student, "teacher": teacher, "distill": distill}


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("distance", ["smooth_l1", "l1"])
def test_codi_loss_equals_the_slow_reference_with_a_stop_gradient_on_the_teacher(setup, distance):
    model, tokenizer, ids = setup
    method = codi("codi", tokenizer, codi_loss=distance, codi_teacher_weight=0.5, codi_distill_weight=2.0)
    sequences = [sequence(method, e) for e in EXAMPLES]
    net = LatentLM(model, latent_id=ids.latent, codi=method.loss_weights())
    model.zero_grad()
    out = net(**method.collate(sequences, ids.pad))
    out["loss"].backward()
    ours = grads(model)
    model.zero_grad()
    expected, parts = reference_codi_loss(model, sequences, ids.latent, teacher_weight=0.5, distill_weight=2.0, distance=distance)
    expected.backward()
    reference = grads(model)
    assert float(out["loss"].detach()) == pytest.approx(float(expected.detach()), abs=TOL)
    for key in ("student", "teacher", "distill"):
        assert float(out[f"{key}_loss"]) == pytest.approx(float(parts[key].detach()), abs=TOL), key
    assert float(parts["distill"].detach()) > 1e-3  # a real distance: the comparison is not between zeros
    assert any(name.startswith("thought_projection.") for name in ours)  # the projection trains
    for name, g in reference.items():
        assert torch.allclose(ours[name], g, atol=1e-4), f"{name}: max abs diff {float((ours[name] - g).abs().max()):.2e}"
    # The test can fail: without the stop-gradient, the reference's gradients differ.
    model.zero_grad()
    reference_codi_loss(model, sequences, ids.latent, teacher_weight=0.5, distill_weight=2.0, distance=distance, detach_teacher=False)[0].backward()
    assert any(not torch.allclose(ours[n], g, atol=1e-4) for n, g in grads(model).items())
    model.zero_grad()


def test_no_gradient_reaches_the_teachers_targets():
    from cocobench.engine import distillation_loss

    student = [torch.randn(2, 5, 4, requires_grad=True) for _ in range(3)]
    teacher = [torch.randn(2, 6, 4, requires_grad=True) for _ in range(3)]
    distillation_loss(student, teacher, torch.tensor([1, 3]), torch.tensor([4, 0])).backward()
    assert all(t.grad is None for t in teacher)
    assert all(float(s.grad[[0, 1], [1, 3]].abs().sum()) > 0 and float(s.grad.abs().sum() - s.grad[[0, 1], [1, 3]].abs().sum()) == 0 for s in student)


def test_no_distill_weight_zero_skips_the_distillation(setup):
    model, tokenizer, ids = setup
    method = codi("codi-no-distill", tokenizer)
    assert method.loss_weights()["distill_weight"] == 0.0
    sequences = [sequence(method, e) for e in EXAMPLES[:2]]
    with torch.no_grad():
        out = LatentLM(model, latent_id=ids.latent, codi=method.loss_weights())(**method.collate(sequences, ids.pad))
        expected, parts = reference_codi_loss(model, sequences, ids.latent, distill_weight=0.0)
    assert float(out["distill_loss"]) == 0.0 and float(out["loss"]) == pytest.approx(float(expected), abs=TOL)


def test_a_rows_states_do_not_depend_on_the_batch(setup):
    """What the loss reads of a row (the distillation states of every layer, its logits) is the same
    alone and batched with a longer row: padding and positions are handled (the released code's are not)."""
    model, tokenizer, ids = setup
    method = codi("codi", tokenizer)
    short, long = sequence(method, EXAMPLES[2]), sequence(method, EXAMPLES[0])
    with torch.no_grad():
        alone = method.collate([short], ids.pad)
        both = method.collate([long, short], ids.pad)
        for prefix, position in (("", "student_position"), ("teacher_", "teacher_position")):
            a = latent_forward(model, alone[prefix + "input_ids"], alone[prefix + "attention_mask"], latent_id=ids.latent, layers=True)
            b = latent_forward(model, both[prefix + "input_ids"], both[prefix + "attention_mask"], latent_id=ids.latent, layers=True)
            p = int(alone[position][0])
            assert int(both[position][1]) == p
            n = int(alone[prefix + "attention_mask"].sum())
            for la, lb in zip(a.layers, b.layers, strict=True):
                assert torch.allclose(la[0, p], lb[1, p], atol=TOL)
            assert torch.allclose(a.logits[0, :n], b.logits[1, :n], atol=1e-4)


# --- generation with the projection ------------------------------------------------------------------

def reference_greedy(model, prompt: list[int], ids, max_new_tokens: int) -> tuple[list[int], list[torch.Tensor]]:
    """Uncached, one token at a time: re-run the whole sequence for every thought and every token."""
    embed, body, head = model.get_input_embeddings(), model.base_model, model.get_output_embeddings()
    project = thought_projection(model)
    x = embed(torch.tensor(prompt))
    for p in (torch.tensor(prompt) == ids.latent).nonzero().flatten().tolist():
        thought = body(inputs_embeds=x[None, :p]).last_hidden_state[0, -1]
        x = torch.cat([x[:p], project(thought)[None], x[p + 1 :]])
    tokens, read = [], []
    for _ in range(max_new_tokens):
        hidden = body(inputs_embeds=x[None]).last_hidden_state[0, -1]
        read.append(hidden)
        token = int(head(hidden).argmax())
        tokens.append(token)
        if token == ids.eos:
            break
        x = torch.cat([x, embed(torch.tensor([token]))])
    return tokens, read


@torch.no_grad()
def test_generation_with_the_projection_equals_an_uncached_reference(setup):
    model, tokenizer, ids = setup
    method = codi("codi", tokenizer)
    prompts = [method.inference_prompt(e, k=k) for e, k in zip(EXAMPLES, (3, 1, 2))]
    with lm_head_inputs(model) as read:
        batched = generate(model, prompts, ids=ids, max_new_tokens=6)
    assert [g.num_thoughts for g in batched] == [3, 1, 2]
    for row, (prompt, generation) in enumerate(zip(prompts, batched)):
        tokens, hidden = reference_greedy(model, prompt, ids, 6)
        assert generation.token_ids == [t for t in tokens if t != ids.eos]
        for step, h in enumerate(hidden):
            assert torch.allclose(read[step][row], h, atol=TOL), f"row {row} step {step}"
    # the projection is in use: without it the model reads other states
    projection = thought_projection(model)
    attach_projection(model, None)
    try:
        with lm_head_inputs(model) as plain:
            generate(model, prompts[:1], ids=ids, max_new_tokens=1)
    finally:
        model.thought_projection = projection
    assert not torch.allclose(plain[0][0], read[0][0], atol=1e-3)


@torch.no_grad()
def test_the_trace_keeps_each_thought_before_the_projection(setup):
    model, tokenizer, ids = setup
    prompt = codi("codi", tokenizer).inference_prompt(EXAMPLES[1])
    (generation,) = generate(model, [prompt], ids=ids, max_new_tokens=2, keep_thoughts=True)
    embed, body = model.get_input_embeddings(), model.base_model
    x = embed(torch.tensor(prompt))
    first = prompt.index(ids.latent)
    expected = body(inputs_embeds=x[None, :first]).last_hidden_state[0, -1]
    assert generation.trace.thoughts.shape[0] == 2 and torch.allclose(generation.trace.thoughts[0], expected, atol=TOL)


# --- end to end ---------------------------------------------------------------------------------------

FAST = ["--model", "gpt2-tiny", "--batch-size", "8", "--grad-accum", "2", "--max-new-tokens", "20", "--eval-batch-size", "8",
        "--codi-thoughts", "2", "--quiet"]


def invoke(*args):
    from typer.testing import CliRunner

    from cocobench.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["codi", "codi-no-distill", "codi-no-projection", "codi-keep-last-step"])
def test_each_variant_trains_evaluates_and_reloads(name, tiny_prosqa, tmp_path):
    out = tmp_path / name
    result = invoke("run", "--data", tiny_prosqa, "--method", name, "--epochs", "2", "--lr", "1e-3", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "results.json").read_text())
    assert run["method"] == name and run["options"]["codi_thoughts"] == 2
    epoch = run["metrics"]["epochs"][0]  # the loss's parts, per epoch: the total is their weighted sum
    assert epoch["train_loss"] == pytest.approx(epoch["train_student_loss"] + epoch["train_distill_loss"] + epoch["train_teacher_loss"], rel=1e-6)
    assert (epoch["train_distill_loss"] == 0) == (name == "codi-no-distill")
    assert all(s["num_thoughts"] == 2 for s in run["samples"])
    best = out / "checkpoints" / "best"
    assert (best / "thought_projection.pt").is_file() == (name != "codi-no-projection")
    again = invoke("eval", "--checkpoint", best, "--data", tiny_prosqa / "test.json", "--out", tmp_path / "eval", "--quiet")
    assert again.exit_code == 0, again.output
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert [s["text"] for s in evaluated["samples"]] == [s["text"] for s in run["samples"]]


GSM_LINES = ["Tom has 3 apples and buys 4 more. How many does he have?||<<3+4=7>> #### 7",
             "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total?||<<2/2=1>> <<2+1=3>> #### 3",
             "Ann reads 5 pages a day for 6 days. How many pages?||<<5*6=30>> #### 30"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["prontoqa", "gsm", "mult"])
def test_codi_trains_and_evaluates_on_the_other_tasks(task, tmp_path):
    """ProsQA above; here ProntoQA and multiplication (generated) and GSM8k-Aug (converted from iCoT's
    text format, as a user's file would be): one epoch each, through `cocobench run`."""
    data = tmp_path / "data"
    if task == "gsm":
        for split in ("train", "valid", "test"):
            (tmp_path / f"{split}.txt").write_text("".join(line + "\n" for line in GSM_LINES * 4), encoding="utf-8")
        made = invoke("gen", "gsm", "--from", tmp_path, "--out", data)
    else:
        made = invoke("gen", task, "--out", data, "--train", "12", "--valid", "4", "--test", "4", "--quiet")
    assert made.exit_code == 0, made.output
    out = tmp_path / "run"
    result = invoke("run", "--data", data, "--method", "codi", "--epochs", "1", "--lr", "1e-3", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "results.json").read_text())
    assert run["task"] == task and run["method"] == "codi" and run["metrics"]["total"] == len(run["samples"]) > 0
    assert all(s["num_thoughts"] == 2 for s in run["samples"])


@pytest.mark.slow
def test_analyses_decode_codi_thoughts_and_sweep_k_up_to_codi_thoughts(tiny_prosqa, tmp_path):
    out = tmp_path / "codi"
    assert invoke("run", "--data", tiny_prosqa, "--method", "codi", "--epochs", "1", "--out", out, *FAST).exit_code == 0
    best = out / "checkpoints" / "best"
    thoughts = invoke("analyze", "thoughts", best, "--data", tiny_prosqa, "--index", "1", "--top", "2", "--format", "json")
    assert thoughts.exit_code == 0, thoughts.output
    decoded = json.loads(thoughts.stdout)
    assert decoded["num_thoughts"] == 2 == len(decoded["thoughts"]) and all(len(t["top"]) == 2 for t in decoded["thoughts"])
    sweep = invoke("analyze", "ksweep", best, "--data", tiny_prosqa, "--out", tmp_path / "sweep", "--format", "json", "--quiet")
    assert sweep.exit_code == 0, sweep.output
    assert json.loads((tmp_path / "sweep" / "ksweep.json").read_text())["ks"] == [0, 1, 2]


@pytest.mark.slow
def test_projection_is_loaded_by_init_from_and_made_fresh_from_a_plain_checkpoint(tiny_prosqa, tmp_path):
    from cocobench.checkpoints import load_run_checkpoint

    cot = tmp_path / "cot"
    assert invoke("run", "--data", tiny_prosqa, "--method", "cot", "--epochs", "1", "--out", cot, *FAST).exit_code == 0
    first = tmp_path / "first"
    result = invoke("run", "--data", tiny_prosqa, "--method", "codi", "--epochs", "1", "--init-from", cot / "checkpoints" / "last", "--out", first, *FAST)
    assert result.exit_code == 0, result.output
    assert thought_projection(load_run_checkpoint(cot / "checkpoints" / "last")[0]) is None
    trained = thought_projection(load_run_checkpoint(first / "checkpoints" / "last")[0])
    second = tmp_path / "second"
    assert invoke("run", "--data", tiny_prosqa, "--method", "codi", "--epochs", "1", "--lr", "1e-9", "--init-from", first / "checkpoints" / "last",
                  "--out", second, *FAST).exit_code == 0
    continued = thought_projection(load_run_checkpoint(second / "checkpoints" / "last")[0])
    assert torch.allclose(trained.net[0].weight, continued.net[0].weight, atol=1e-6)  # loaded, not drawn afresh (lr ~ 0)
