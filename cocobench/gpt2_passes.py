"""Generation passes for GPT-2, written out in PyTorch ops: the engine's fast path for its default architecture.

Generation reads only the last column of each pass (the next thought, or the logits of the next token).
A forward written for that can skip work that transformers' generic one must do:
- in the last layer, only the last column needs a query, an attention output and the MLP; every column
  still needs its keys and values (later columns attend to them). About a fifth of a 4-layer prefill.
- the prefill runs its rows left-aligned (real tokens first, padding after), so causal attention needs
  no mask and skips the keys above the diagonal; the keys and values then go to the cache in its
  left-padded layout;
- a decoding step is about fifteen tensor ops per layer, without the generic path's mask building and
  cache bookkeeping (~15% of a step on CPU).
The model's own modules do the arithmetic (layer norms, projections, the MLP with its activation);
only the block wiring and the attention are written here. `supports` keeps this to plain GPT-2
configurations; every other model takes the generic path. Tests check that the two agree (1e-5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cocobench.attention import PREFILL_TOKENS, additive_mask


def supports(model) -> bool:
    config = model.config
    return (
        config.model_type == "gpt2"
        and not config.add_cross_attention
        and not config.reorder_and_upcast_attn  # an fp32 upcast the eager path does; sdpa here would not
        and getattr(config, "_attn_implementation", None) in ("sdpa", "eager")
    )


class GPT2Passes:
    """Runs a GPT-2 over one batch a chunk of columns at a time, for generation: each call returns the
    last-layer hidden state (after the final norm) of the chunk's last column only, (B, C).

    `layers` are the KV-cache layers (engine.AppendLayer, one per block) that this fills and extends.
    """

    def __init__(self, model, layers: list):
        self.gpt2 = model.base_model  # GPT2Model: wpe, h (the blocks), ln_f
        self.layers = layers
        self.heads = model.config.n_head

    def __call__(self, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """embeds (B, t, C), positions (B, t) of the new columns; attention_mask (B, S+t), left-padded."""
        if self.layers[0].length == 0:
            return self.prefill(embeds, attention_mask, positions)
        return self.extend(embeds, attention_mask, positions)

    def prefill(self, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The first chunk, a few rows at a time. A row's real columns are a suffix of the chunk (left
        padding); they run left-aligned, so causal attention needs no mask (padding after them is never
        attended to), and their keys and values are written straight to their own columns of the cache."""
        B, t, C = embeds.shape
        lengths = attention_mask[:, :t].sum(1)  # (B,) real columns of each row
        hidden = embeds.new_zeros(B, C)  # rows without a real column keep zeros (never read)
        order = lengths.argsort(descending=True)  # similar lengths share a group: little padding
        for group in order.split(max(1, PREFILL_TOKENS // t)):  # the first group holds the longest row
            n = lengths[group]  # (G,)
            L = int(n.max())
            if L == 0:  # rows that start after this chunk: padding throughout
                for layer in self.layers:
                    layer.keys[group], layer.values[group] = 0, 0
                continue
            column = torch.arange(L, device=embeds.device)  # (L,) left-aligned column
            source = (t - n[:, None] + column).clamp(max=t - 1)  # (G, L) its column in the chunk
            rows, real = group[:, None], column < n[:, None]  # (G, 1), (G, L)
            x = embeds[rows, source] + self.gpt2.wpe(positions[rows, source])  # (G, L, C)
            for block, layer in zip(self.gpt2.h, self.layers):
                q, k, v = self.project(block, x)  # (G, H, L, D) each
                if layer.length == 0:
                    layer.reserve(k, B, t)
                for row, count, new in zip(group.tolist(), n.tolist(), zip(k, v)):  # left-aligned -> left-padded
                    for cached, computed in zip((layer.keys, layer.values), new):
                        cached[row, :, : t - count] = 0  # padding: finite, and masked out later
                        cached[row, :, t - count :] = computed[:, :count]
                if block is self.gpt2.h[-1]:  # the last layer: the last real column only
                    picked, last = torch.arange(len(group), device=x.device), n.clamp(min=1) - 1
                    x, q = x[picked, last][:, None], q[picked, :, last][:, :, None]  # (G, 1, C), (G, H, 1, D)
                    mask = additive_mask(real, q.dtype)  # (G, 1, 1, L)
                    x = self.finish(block, x, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=block.attn.scaling))
                else:
                    x = self.finish(block, x, F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=block.attn.scaling))
            hidden[group] = self.gpt2.ln_f(x[:, 0])
        return hidden

    def extend(self, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """A later chunk (a decoding step, or a few prompt columns after a thought) for all rows at once."""
        t = embeds.shape[1]
        keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, S+t)
        if t > 1:  # causal within the chunk
            S = attention_mask.shape[1] - t
            keep = keep & (torch.arange(S + t, device=keep.device) <= S + torch.arange(t, device=keep.device)[:, None])
        x = embeds + self.gpt2.wpe(positions)  # (B, t, C)
        mask = None
        for block, layer in zip(self.gpt2.h, self.layers):
            q, k, v = self.project(block, x)
            k, v = layer.update(k, v)  # (B, H, S+t, D)
            if mask is None:  # in the queries' dtype (bf16 under CUDA autocast)
                mask = additive_mask(keep, q.dtype)
            if block is self.gpt2.h[-1] and t > 1:  # the last layer: the last column only
                x, q, mask = x[:, -1:], q[:, :, -1:], mask[:, :, -1:]
            x = self.finish(block, x, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=block.attn.scaling))
        return self.gpt2.ln_f(x[:, -1])

    def project(self, block, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values of the block's attention, (B, H, T, D) each."""
        B, T, C = x.shape
        qkv = block.attn.c_attn(block.ln_1(x)).view(B, T, 3, self.heads, C // self.heads)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    @staticmethod
    def finish(block, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The rest of the block: output projection and MLP, each added to the residual stream."""
        B, H, T, D = attended.shape
        x = x + block.attn.c_proj(attended.transpose(1, 2).reshape(B, T, H * D))
        return x + block.mlp(block.ln_2(x))

