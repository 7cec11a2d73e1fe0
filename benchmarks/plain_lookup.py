"""A plain-PyTorch reference for how fast a from-scratch 2-layer transformer learns symbolic ProsQA's
answer (No-CoT: the token after `[A]`), outside cocobench's harness: its own GPT (pre-LayerNorm, learned
positions, PyTorch's default initialisation, an untied head), its own batches (left-padded, positions
counted from each sequence's first token), loss on the answer token only, facts and options reshuffled
at every draw. It answers "is it the task or the harness?" when a harness run stays at chance.

    python benchmarks/plain_lookup.py --data data/sym-1hop --steps 2000 --batch-size 128
    python benchmarks/plain_lookup.py --data data/sym-1hop --gpt2-init 0.02 --tie   # the GPT-2 preset's choices
    python benchmarks/plain_lookup.py --data data/sym-1hop --rope                   # rotary positions (the Llama presets)

Prints the test accuracy (options in a seeded random order) every --every steps. Results: results/README.md,
"cpu-symbolic-explore", third round.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

NODES = 31  # symbolic ProsQA's node tokens 0..30
VOCAB = {**{str(i): i for i in range(NODES)}, "|": 31, "[Q]": 32, "[R]": 33, "[A]": 34, "<eos>": 35, "<pad>": 36}


def encode(example: dict, rng: random.Random) -> tuple[list[int], int]:
    """`<eos> s t | ... [Q] o1 o2 [R] root [A]` with facts and options in a fresh order, and the answer."""
    edges, options = list(example["edges"]), [example["target"], example["neg_target"]]
    rng.shuffle(edges)
    rng.shuffle(options)
    tokens = ["<eos>"] + [t for s, t in edges for t in (str(s), str(t), "|")][:-1]
    tokens += ["[Q]", str(options[0]), str(options[1]), "[R]", str(example["root"]), "[A]"]
    return [VOCAB[t] for t in tokens], example["target"]


def batch(examples: list[dict], rng: random.Random):
    """(ids, padding mask, positions, answers), left-padded so that every answer is read at the last position."""
    pairs = [encode(example, rng) for example in examples]
    width = max(len(ids) for ids, _ in pairs)
    ids = torch.full((len(pairs), width), VOCAB["<pad>"])
    pad = torch.ones(len(pairs), width, dtype=torch.bool)
    for row, (seq, _) in enumerate(pairs):
        ids[row, width - len(seq):] = torch.tensor(seq)
        pad[row, width - len(seq):] = False
    positions = (torch.arange(width)[None] - pad.sum(1, keepdim=True)).clamp(min=0)
    return ids, pad, positions, torch.tensor([answer for _, answer in pairs])


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary positions (the two-halves form Llama uses): a query-key score then depends on the distance only."""
    half = x.shape[-1] // 2
    angle = positions[:, None, :, None].float() * 10000 ** (-torch.arange(half) / half)
    first, second = x[..., :half], x[..., half:]
    return torch.cat([first * angle.cos() - second * angle.sin(), first * angle.sin() + second * angle.cos()], -1)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float, rope: bool = False):
        super().__init__()
        self.rope = rope
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(dropout))
        self.heads, self.dropout = heads, dropout

    def forward(self, x, allowed, positions):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.rope:
            q, k = rotate(q, positions), rotate(k, positions)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None], dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, dropout: float, rope: bool = False):
        super().__init__()
        self.tok = nn.Embedding(len(VOCAB), width)
        self.pos = None if rope else nn.Embedding(512, width)
        self.blocks = nn.ModuleList(Block(width, heads, dropout, rope) for _ in range(layers))
        self.ln, self.head = nn.LayerNorm(width), nn.Linear(width, len(VOCAB))

    def forward(self, ids, pad, positions):
        t = ids.shape[1]
        # causal, no padded keys; a padded row sees itself so that its softmax is defined
        allowed = (torch.tril(torch.ones(t, t, dtype=torch.bool))[None] & ~pad[:, None, :]) | torch.eye(t, dtype=torch.bool)[None]
        x = self.tok(ids) if self.pos is None else self.tok(ids) + self.pos(positions)
        for block in self.blocks:
            x = block(x, allowed, positions)
        return self.head(self.ln(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a symbolic ProsQA directory (train.json, test.json)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--gpt2-init", type=float, default=None, help="draw every weight from N(0, this), as GPT-2 does with 0.02")
    parser.add_argument("--tie", action="store_true", help="the head is the input embedding, as in GPT-2")
    parser.add_argument("--rope", action="store_true", help="rotary positions in attention instead of learned absolute ones, as in Llama")
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train = json.loads((args.data / "train.json").read_text())
    test = json.loads((args.data / "test.json").read_text())
    model = GPT(args.width, args.layers, args.heads, args.dropout, args.rope)
    if args.gpt2_init is not None:
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, args.gpt2_init)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
    if args.tie:
        model.head.weight = model.tok.weight
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rng, start = random.Random(args.seed), time.time()
    for step in range(1, args.steps + 1):
        model.train()
        ids, pad, positions, answers = batch(rng.sample(train, args.batch_size), rng)
        loss = F.cross_entropy(model(ids, pad, positions)[:, -1], answers)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0:
            model.eval()
            with torch.no_grad():
                ids, pad, positions, answers = batch(test, random.Random(123))
                accuracy = (model(ids, pad, positions)[:, -1].argmax(-1) == answers).float().mean().item()
            print(f"step {step}  batch loss {loss.item():.3f}  test {accuracy:.3f}  ({time.time() - start:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
