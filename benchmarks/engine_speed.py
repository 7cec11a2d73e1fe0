"""Time the latent engine: a training step with continuous thoughts, and batched generation.

    python benchmarks/engine_speed.py [--repeats 5] [--baseline-examples 12] [--rounds 3]
    python benchmarks/engine_speed.py --device cuda --model gpt2-124m [--precision auto] [--eval-batch 64]
    python benchmarks/engine_speed.py --device cuda --model gpt2-124m --compile inductor --no-generation --no-codi

Setting (defaults): the gpt2-cpu preset (4 layers, 256 wide, 4 heads, random init), fp32,
torch.set_num_threads(2), the official ProsQA validation examples (../shared/data/prosqa/prosqa_valid.json
beside the repo; --data another file), and glibc's malloc keeping freed memory as under the `cocobench`
command (COCOBENCH_SYSTEM_MALLOC=1: not). On CUDA every timing waits for the GPU (synchronize), and the
training steps also report tokens/s, model FLOPs utilisation (6N + 12 L C T FLOPs per token, N the
parameters without the position table, T the padded length; against the card's dense peak for the
precision: bf16, or TF32 for fp32) and the peak GPU memory of each kind of step.
(a) One training step (forward + backward + AdamW) on 32 Coconut sequences with 6 continuous thoughts
    (Q bot <latent>x6 eot remaining-steps answer), against a plain step of the model on the same padded
    batch with the latent tokens replaced by an ordinary word (one ordinary pass). Target: ratio <= 1.3.
    The steps run on a copy of the model, so (b) sees the freshly initialised one.
(b) Greedy evaluation of 300 examples, prompt Q bot <latent>x6 eot, up to 32 new tokens (the random
    model never emits EOS, so every row makes all 32): batched generation with the KV cache (batches of
    similar prompt lengths, as `evaluate` makes them) against one example at a time without it (timed
    on --baseline-examples examples spread evenly over the 300, extrapolated per example). Target:
    speedup >= 30x. Also timed: the prefill alone (the same batches cut before the first thought, no
    new tokens), which bounds the speedup from above. Each round times every batch followed by its
    prefill and its share of the baseline examples, so machine noise hits all three alike; the median
    round's ratio is reported.
(c) CODI (--method codi, docs/methods.md): one training step of its loss (the student with 6 thoughts through
    the projection, the teacher's CoT pass, the distillation over every layer) on the same 32 examples,
    against the student's latent step alone; and the batched generation of (b) with the thought
    projection, against (b)'s batched time (the projection's cost at inference). --no-codi skips it.
--compile BACKEND: (a) with the transformer body torch.compiled (`models.compile_transformer`, dynamic
shapes; --compile-mode passes a mode such as reduce-overhead); the first steps, which compile, are timed
apart (`warmup_s`). Generation is not compiled (GPT-2 decodes through `gpt2_passes`).
A benchmark, not a test: nothing is asserted. The last line is a JSON object with the raw numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "prosqa" / "prosqa_valid.json"
THOUGHTS = 6
BATCH = 32
EVAL_EXAMPLES = 300
MAX_NEW_TOKENS = 32


def coconut_example(tokenizer, ids, example) -> tuple[list[int], list[int]]:
    """(prompt, continuation) at the final stage: Q bot <latent>x6 eot | S_7.. "### answer" EOS."""
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    prompt = encode(example["question"] + "\n") + [ids.bot] + [ids.latent] * THOUGHTS + [ids.eot]
    continuation = [t for step in example["steps"][THOUGHTS:] for t in encode(step + "\n")] + encode("### " + example["answer"]) + [ids.eos]
    return prompt, continuation


def right_pad(rows: list[tuple[list[int], list[int]]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(x) for x, _ in rows)
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in rows])  # (B, T)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in rows])  # (B, T)
    labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in rows])  # (B, T)
    return input_ids, mask, labels


# Dense peak TFLOP/s by card (bf16, TF32), from the vendors' data sheets (SXM parts).
PEAK_TFLOPS = {"H100": (989.4, 494.7), "H200": (989.4, 494.7), "A100": (312.0, 156.0)}


def peak_tflops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for card, (bf16, tf32) in PEAK_TFLOPS.items():
        if card in name:
            return bf16 if precision == "bf16" else tf32
    return None


def step_flops(model, batch: int, length: int) -> float:
    """Model FLOPs of one training step (forward + backward): (6N + 12 L C T) per token."""
    config = model.config
    position_table = getattr(model.base_model, "wpe", None)
    n = sum(p.numel() for p in model.parameters()) - (position_table.weight.numel() if position_table is not None else 0)
    layers, width = config.num_hidden_layers, config.hidden_size
    return (6 * n + 12 * layers * width * length) * batch * length


def time_training(model, ids, input_ids, mask, labels, word: int, repeats: int, device: torch.device, precision: str, warmups: int = 1) -> dict:
    from cocobench.device import autocast
    from cocobench.engine import latent_forward
    from cocobench.train import make_optimizer

    cuda = device.type == "cuda"
    optimizer = make_optimizer(argparse.Namespace(lr=1e-4, weight_decay=0.01), model.parameters(), device)  # fused on CUDA, as the trainer
    plain_ids = input_ids.masked_fill(input_ids == ids.latent, word)
    on_device = {name: t.to(device) for name, t in (("ids", plain_ids), ("mask", mask), ("labels", labels))}

    def latent_step():  # the batch stays on the CPU, as the trainer hands it over: the engine plans its passes there
        with autocast(device, precision):
            loss = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent).loss
        loss.backward()

    def plain_step():
        with autocast(device, precision):
            loss = model(input_ids=on_device["ids"], attention_mask=on_device["mask"], labels=on_device["labels"]).loss
        loss.backward()

    peak = {}

    def timed(step, name: str) -> float:
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        step()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
            peak[name] = max(peak.get(name, 0), torch.cuda.max_memory_allocated(device))
        return time.perf_counter() - start

    model.train()
    warmup = [timed(latent_step, "latent") + timed(plain_step, "plain") for _ in range(warmups)]  # a compiled body compiles here
    latent, plain = [], []
    for _ in range(repeats):  # interleaved, so that a noisy neighbour hits both alike
        latent.append(timed(latent_step, "latent"))
        plain.append(timed(plain_step, "plain"))
    out = {"warmup_s": warmup, "latent_step_s": latent, "plain_step_s": plain, "train_step_ratio": statistics.median(latent) / statistics.median(plain)}
    tokens = input_ids.numel()
    flops = step_flops(model, *input_ids.shape)
    peak_flops = peak_tflops(device, precision)
    for name, times in (("latent", latent), ("plain", plain)):
        seconds = statistics.median(times)
        out[f"{name}_tokens_per_s"] = tokens / seconds
        out[f"{name}_tflops"] = flops / seconds / 1e12
        out[f"{name}_mfu"] = flops / seconds / 1e12 / peak_flops if peak_flops else None
        out[f"{name}_peak_memory_gib"] = peak[name] / 2**30 if cuda else None
    out["step_flops"] = flops
    return out


def time_generation(model, ids, prompts: list[list[int]], batch_size: int, baseline_examples: int, rounds: int) -> dict:
    from cocobench.engine import generate
    from cocobench.evaluate import batches_by_length

    model.eval()
    batches = list(batches_by_length([len(p) for p in prompts], batch_size))  # as `evaluate` batches
    # The prompts cut after the prefill (question and bot, up to the first thought), asked for no tokens:
    # the one pass per row that batching cannot share, so the floor of the batched path.
    heads = [p[: p.index(ids.latent)] for p in prompts]
    subset = list(range(0, len(prompts), len(prompts) // baseline_examples))[:baseline_examples]  # spread over the file
    shares = [subset[i :: len(batches)] for i in range(len(batches))]  # baseline examples timed after each batch

    def timed(run):
        start = time.perf_counter()
        out = run()
        return out, time.perf_counter() - start

    batched, slow = [None] * len(prompts), {}
    seconds = {"batched": [], "prefill": [], "baseline": []}  # per round
    for _ in range(rounds):
        total = dict.fromkeys(seconds, 0.0)
        for batch, share in zip(batches, shares):  # interleaved, so that a noisy neighbour slows all three alike
            out, dt = timed(lambda: generate(model, [prompts[i] for i in batch], ids=ids, max_new_tokens=MAX_NEW_TOKENS))
            total["batched"] += dt
            for i, generation in zip(batch, out):
                batched[i] = generation
            total["prefill"] += timed(lambda: generate(model, [heads[i] for i in batch], ids=ids, max_new_tokens=0))[1]
            for i in share:
                slow[i], dt = timed(lambda: generate(model, [prompts[i]], ids=ids, max_new_tokens=MAX_NEW_TOKENS, use_cache=False)[0])
                total["baseline"] += dt
        for name in seconds:
            seconds[name].append(total[name])
    per_example = {name: [t / (len(subset) if name == "baseline" else len(prompts)) for t in times] for name, times in seconds.items()}
    speedups = [b / x for b, x in zip(per_example["baseline"], per_example["batched"])]
    ceilings = [b / x for b, x in zip(per_example["baseline"], per_example["prefill"])]
    return {
        "eval_batch": batch_size,
        "rounds": rounds,
        "batched_cached_s": seconds["batched"],
        "batched_examples_per_s": len(prompts) / statistics.median(seconds["batched"]),
        "baseline_subset": len(subset),
        "baseline_subset_s": seconds["baseline"],
        "baseline_examples_per_s": len(subset) / statistics.median(seconds["baseline"]),
        "same_outputs": all(slow[i] == batched[i] for i in subset),
        "mean_forward_passes": statistics.mean(g.forward_passes for g in batched),
        "mean_generated_tokens": statistics.mean(g.generated_tokens for g in batched),
        "speedups": speedups,
        "generate_speedup": statistics.median(speedups),
        "prefill_s": seconds["prefill"],
        "speedup_ceiling": statistics.median(ceilings),  # if every pass after the prefill were free
    }


def time_codi(model, tokenizer, examples: list[dict], prompts: list[list[int]], batch_size: int, repeats: int, device: torch.device, precision: str) -> dict:
    """(c): CODI's training step against its student's latent step; generation with the projection."""
    import random

    from cocobench.config import RunConfig
    from cocobench.device import autocast
    from cocobench.engine import LatentLM, attach_projection, generate, latent_forward
    from cocobench.evaluate import batches_by_length
    from cocobench.methods import get_method
    from cocobench.tokenizer import token_ids

    ids = token_ids(tokenizer)
    model = copy.deepcopy(model)
    torch.manual_seed(0)
    attach_projection(model, model.config.get_text_config().hidden_size)
    method = get_method("codi", RunConfig(method="codi", codi_thoughts=THOUGHTS), tokenizer)
    sequences = [method.train_sequence(e, epoch=0, batch_index=0, batches_per_epoch=1, rng=random.Random(0)) for e in examples[:BATCH]]
    batch = method.collate(sequences, ids.pad)
    net = LatentLM(model, latent_id=ids.latent, codi=method.loss_weights())
    cuda = device.type == "cuda"

    def timed(step) -> float:
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with autocast(device, precision):
            loss = step()
        loss.backward()
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    codi_step = lambda: net(**batch)["loss"]  # noqa: E731
    student_step = lambda: latent_forward(model, batch["input_ids"], batch["attention_mask"], batch["labels"], latent_id=ids.latent).loss  # noqa: E731
    model.train()
    timed(codi_step), timed(student_step)  # warm-up
    codi, student = [], []
    for _ in range(repeats):
        codi.append(timed(codi_step))
        student.append(timed(student_step))
    model.eval()
    start = time.perf_counter()
    with autocast(device, precision):
        for group in batches_by_length([len(p) for p in prompts], batch_size):
            generate(model, [prompts[i] for i in group], ids=ids, max_new_tokens=MAX_NEW_TOKENS)
    return {"codi_step_s": codi, "codi_student_step_s": student, "codi_step_ratio": statistics.median(codi) / statistics.median(student),
            "codi_teacher_length": batch["teacher_input_ids"].shape[1], "codi_generation_s": time.perf_counter() - start}


def fail(message: str) -> None:
    """Bad input: one line on stderr, exit status 2 (the cocobench command's convention)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed training steps of each kind")
    parser.add_argument("--baseline-examples", type=int, default=12, help="examples (spread over the set) the slow generation baseline is timed on")
    parser.add_argument("--eval-batch", type=int, default=BATCH, help="prompts per generation batch (the issue's setting: 32; `evaluate` defaults to 64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the generation timing (the median is reported)")
    parser.add_argument("--eval-examples", type=int, default=EVAL_EXAMPLES, help="prompts generated in (b)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--model", default="gpt2-cpu", help="a preset (random init): gpt2-cpu, gpt2-124m (the paper's shape), ...")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="as `cocobench run --precision`")
    parser.add_argument("--data", type=Path, default=DATA, help="ProsQA examples (JSON) to build the batches from")
    parser.add_argument("--json-out", type=Path, help="also write the JSON summary to this file")
    parser.add_argument("--no-codi", action="store_true", help="skip (c), the CODI timings")
    parser.add_argument("--no-generation", action="store_true", help="skip (b), the generation timings")
    parser.add_argument("--compile", metavar="BACKEND", help="time (a) with the transformer body torch.compile'd: inductor (the default compiler), aot_eager (no codegen: checks tracing), ...")
    parser.add_argument("--compile-mode", help="torch.compile's mode with --compile: default, reduce-overhead (CUDA graphs), max-autotune, ...")
    args = parser.parse_args()
    if not args.data.is_file():
        fail(f"{args.data} not found: the official ProsQA data must be in ../shared/data/prosqa/ beside the repository (or pass --data FILE)")
    if args.compile:
        from torch._dynamo import list_backends  # not `import torch._dynamo`: that would make `torch` local to main

        backends = list_backends(exclude_tags=())
        if args.compile not in backends:
            fail(f"--compile {args.compile!r} is not a torch.compile backend; use one of: {', '.join(backends)}")

    from cocobench.allocator import keep_freed_memory
    from cocobench.device import autocast, configure_matmul, resolve_precision
    from cocobench.examples import load_examples, sequence_text
    from cocobench.models import build_model_and_tokenizer, compile_transformer
    from cocobench.tokenizer import token_ids

    device = torch.device(args.device)
    precision = resolve_precision(args.precision, device)
    configure_matmul(device, precision)
    if device.type == "cpu":
        torch.set_num_threads(2)
    malloc_kept = keep_freed_memory()  # as the cocobench command runs (COCOBENCH_SYSTEM_MALLOC=1: glibc's defaults)
    examples = load_examples(args.data)
    model, tokenizer = build_model_and_tokenizer(args.model, [sequence_text(e) for e in examples], seed=0)
    model.to(device)
    print(f"{args.model} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, {precision}", flush=True)
    ids = token_ids(tokenizer)
    word = tokenizer.convert_tokens_to_ids(" is")

    encoded = [coconut_example(tokenizer, ids, e) for e in examples]
    # Training sequences: loss on the continuation only (the question and thought block get -100).
    input_ids, mask, labels = right_pad([(p + c, [-100] * len(p) + c) for p, c in encoded[:BATCH]], ids.pad)
    print(f"(a) training step: batch {BATCH} x {input_ids.shape[1]} tokens, {THOUGHTS} continuous thoughts per row", flush=True)
    # A copy takes the optimizer steps, so generation below runs the same freshly initialised model whatever --repeats is.
    trained = copy.deepcopy(model)
    compiled = {}
    if args.compile:
        compile_transformer(trained, args.compile, args.compile_mode)
        compiled = {"compile_backend": args.compile, "compile_mode": args.compile_mode}
        print(f"    transformer body compiled ({args.compile}, mode {args.compile_mode or 'default'}, dynamic shapes)", flush=True)
    # Two warm-ups when compiling: the first compiles, the second shows whether the shapes recompile.
    train = time_training(trained, ids, input_ids, mask, labels, word, args.repeats, device, precision, warmups=2 if args.compile else 1)
    if args.compile:
        from torch._dynamo.utils import counters

        compiled.update(graphs=counters["stats"]["unique_graphs"], graph_breaks=sum(counters["graph_break"].values()))
        print(f"    warm-up (latent + plain step; compiling): {', '.join(f'{x:.1f} s' for x in train['warmup_s'])};"
              f" {compiled['graphs']} graphs, {compiled['graph_breaks']} graph breaks")
    print(f"    latent step {statistics.median(train['latent_step_s']):.3f} s, plain step {statistics.median(train['plain_step_s']):.3f} s (medians of {args.repeats})")
    print(f"    ratio {train['train_step_ratio']:.2f}  (target <= 1.3 on CPU, <= 1.1 on GPU at gpt2-124m)", flush=True)
    for name in ("latent", "plain"):
        mfu = f", MFU {train[f'{name}_mfu']:.1%}" if train[f"{name}_mfu"] is not None else ""
        memory = f", peak memory {train[f'{name}_peak_memory_gib']:.2f} GiB" if train[f"{name}_peak_memory_gib"] is not None else ""
        print(f"    {name} step: {train[f'{name}_tokens_per_s']:,.0f} tokens/s, {train[f'{name}_tflops']:.1f} TFLOP/s{mfu}{memory}")

    prompts = [p for p, _ in encoded[: args.eval_examples]]
    summary = {"train_step_ratio": round(train["train_step_ratio"], 3), "sequence_length": input_ids.shape[1], "malloc_kept": malloc_kept, "model": args.model, "device": str(device),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "precision": precision, **compiled, **train}
    if not args.no_generation:
        summary.update(report_generation(model, ids, prompts, args, precision))
    if not args.no_codi:
        print(f"(c) CODI: training step on the same {BATCH} examples (student {THOUGHTS} thoughts + teacher CoT + distillation), generation with the projection", flush=True)
        codi = time_codi(model, tokenizer, examples, prompts, args.eval_batch, args.repeats, device, precision)
        print(f"    CODI step {statistics.median(codi['codi_step_s']):.3f} s, its student's latent step {statistics.median(codi['codi_student_step_s']):.3f} s: ratio {codi['codi_step_ratio']:.2f}"
              f" (the teacher's sequences are {codi['codi_teacher_length']} tokens)")
        if "batched_cached_s" in summary:
            codi["codi_generation_ratio"] = codi["codi_generation_s"] / statistics.median(summary["batched_cached_s"])
            print(f"    batched generation with the projection {codi['codi_generation_s']:.2f} s = {codi['codi_generation_ratio']:.2f}x (b)'s batched time")
        summary.update(codi)
    print(json.dumps(summary))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")


def report_generation(model, ids, prompts: list[list[int]], args, precision: str) -> dict:
    """(b), printed; the summary's generation fields."""
    from cocobench.device import autocast

    device = model.device
    print(f"(b) generation: {len(prompts)} prompts Q bot <latent>x{THOUGHTS} eot, up to {MAX_NEW_TOKENS} new tokens", flush=True)
    with autocast(device, precision):  # as `evaluate` runs
        gen = time_generation(model, ids, prompts, args.eval_batch, args.baseline_examples, args.rounds)
    median = statistics.median
    print(f"    batched (batch {args.eval_batch}, KV cache, length-sorted): {median(gen['batched_cached_s']):.2f} s = {gen['batched_examples_per_s']:.1f} examples/s")
    print(f"    one at a time, no cache: {median(gen['baseline_subset_s']):.2f} s for {gen['baseline_subset']} spread over the set = {gen['baseline_examples_per_s']:.2f} examples/s (extrapolated)")
    print(f"    speedup {gen['generate_speedup']:.1f}x, median of {args.rounds} interleaved rounds ({', '.join(f'{x:.1f}' for x in gen['speedups'])})  (target >= 30x on CPU, >= 200x on GPU)")
    print(f"    same outputs on the subset: {gen['same_outputs']}; {gen['mean_forward_passes']:.1f} passes per example")
    print(f"    of the batched time, {median(gen['prefill_s']):.2f} s is the prompts' prefill alone (question + bot, one pass per row):")
    print(f"    with every later pass free the speedup could reach at most {gen['speedup_ceiling']:.1f}x")
    return {"generate_speedup": round(gen["generate_speedup"], 1), **gen}


if __name__ == "__main__":
    main()
