"""The latent-reasoning engine: the training forward with continuous thoughts, and batched generation.

A continuous thought (Coconut) is the last-layer hidden state of the previous position, fed
back as the input embedding of a `<|latent|>` position. A sequence with n latents therefore takes n+1
sequential passes: pass 0 runs every column before the first latent; each later pass starts at a
latent column, whose input is the hidden state the previous pass ended with, and runs up to the next
latent column (the last pass runs to the end). The KV cache (transformers' DynamicCache) holds the keys
and values of the columns already run, so each pass computes only its own columns and the n+1 passes
together cost about one ordinary forward. Gradients flow through the recurrence (nothing is detached).

To line the latents of a batch up, `latent_forward` shifts each row right so that its first latent
lands in a common column (re-padding on the left; position ids come from the attention mask): a batch
of contiguous latent runs then takes exactly max_count + 1 passes whatever its question lengths. Any
other layout is still exact, with one pass per column that holds a latent in some row, plus one.
`generate` left-pads its prompts, which lines `Q bot <latent>xK eot` prompts up by their ends, then
decodes one column per step for every row at once, each row in its own phase (thinking or speaking).
Generation reads only each pass's last column; GPT-2 models run it through `gpt2_passes`, which skips
the work that column does not need. For the analyses, `generate` can also hand out per row the thoughts
it fed and the logits of chosen steps (a `Trace`); nothing is collected unless asked.

The model is used through the generic transformers API: `model.base_model` (the transformer with its
final norm, fed `inputs_embeds` + `position_ids`), `get_input_embeddings()` and `get_output_embeddings()`
(the LM head), so GPT-2 (learned positions) and Llama (rotary positions) work alike.

A model may carry a thought projection (CODI, docs/methods.md): the submodule `model.thought_projection`
(`ThoughtProjection`) maps every hidden state fed back as a thought before it goes in, in training and
in generation alike. Kept on the model, it moves, trains, and is wrapped (DDP) with it; checkpoints store
it in a file of its own, so that the weights stay a plain transformers model. Without it nothing changes.
For CODI's loss, `latent_forward` can also hand out every layer's hidden state (`layers`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import DynamicLayer

from cocobench import gpt2_passes
from cocobench.attention import PREFILL_TOKENS, additive_mask
from cocobench.sequences import IGNORE  # label of positions without loss
from cocobench.tokenizer import TokenIds



@dataclass
class LatentOutput:
    loss: torch.Tensor | None  # mean cross-entropy over labelled positions; None without labels
    logits: torch.Tensor  # (B, T, V)
    hidden: torch.Tensor  # (B, T, C) last layer after the final norm; values at pad positions are unspecified
    layers: tuple[torch.Tensor, ...] | None = None  # with layers=True: (B, T, C) each, the embeddings, then each block (the last after the final norm)


@dataclass
class Trace:
    """What `generate` hands out for analysis when asked (the authors' generate returns the thoughts
    "for analysis purpose"); fp32, on the CPU."""

    thoughts: torch.Tensor  # (num_thoughts, C) last-layer hidden state (after the final norm) before each thought slot, in order
    logits: dict[int, torch.Tensor]  # language step -> (V,) logits that step's token was chosen from (step 0: the first token)


@dataclass
class Generation:
    token_ids: list[int]  # language tokens generated after the prompt, EOS excluded
    num_thoughts: int  # thought slots run: the prompt's <|latent|> tokens plus thoughts generated here
    generated_tokens: int  # the paper's rule: each continuous thought counts 1; TokenIds.uncounted tokens count 0
    forward_passes: int  # sequential model passes this row needs on its own (rule in `generate`)
    trace: Trace | None = field(default=None, compare=False, repr=False)  # only with keep_thoughts / logits_at


class ThoughtProjection(nn.Module):
    """CODI's projection of a fed-back thought: Linear(d, d) -> GELU -> Linear(d, d) -> LayerNorm(d)."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size), nn.LayerNorm(hidden_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden)


THOUGHT_PROJECTION = "thought_projection"  # the model's submodule holding it


def thought_projection(model) -> ThoughtProjection | None:
    """The model's thought projection, or None (thoughts are fed back as they are)."""
    return getattr(model, THOUGHT_PROJECTION, None)


def attach_projection(model, hidden_size: int | None) -> None:
    """Give `model` a new thought projection of width `hidden_size` (on its device), or remove its own (None)."""
    if hidden_size is None:
        if thought_projection(model) is not None:
            delattr(model, THOUGHT_PROJECTION)
        return
    setattr(model, THOUGHT_PROJECTION, ThoughtProjection(hidden_size).to(model.get_input_embeddings().weight.device))


class StopClassifier(nn.Module):
    """A linear probe on the hidden state that would become the next thought: logit > 0 = emit eot now."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden).squeeze(-1)  # (N, C) -> (N,)


# ---------------------------------------------------------------------------------------------------
# Running the model a chunk of columns at a time


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counting real tokens only, so left padding does not move a row's positions."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, W)


class AppendLayer(DynamicLayer):
    """A KV-cache layer that appends into spare room instead of re-concatenating all of its keys and
    values at every step (DynamicLayer's torch.cat), which would make decoding O(length) per token.

    Generation only: autograd cannot follow the in-place writes, so training uses plain DynamicLayers.
    """

    def __init__(self, room: int = 0):
        super().__init__()
        self.room = room  # columns to allocate at the first update (more are added by doubling)
        self.length = 0  # columns stored

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.key_store, self.value_store = key_states[..., :0, :], value_states[..., :0, :]
        end = self.length + key_states.shape[-2]
        if end > self.key_store.shape[-2]:
            room = max(end, self.room, 2 * self.key_store.shape[-2])
            self.key_store, self.value_store = (_regrow(store, self.length, room) for store in (self.key_store, self.value_store))
        self.key_store[..., self.length : end, :] = key_states
        self.value_store[..., self.length : end, :] = value_states
        self.length = end
        self.keys, self.values = self.key_store[..., :end, :], self.value_store[..., :end, :]  # views, no copy
        return self.keys, self.values

    def reserve(self, like: torch.Tensor, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Start with `length` columns that the caller fills in place (uninitialised until then), in a
        store with room to grow: (batch, H, length, D) views of the keys and values, dtype of `like`."""
        self.lazy_initialization(like, like)
        shape = (batch, like.shape[1], max(length, self.room), like.shape[-1])
        self.key_store, self.value_store = like.new_empty(shape), like.new_empty(shape)
        self.length = length
        self.keys, self.values = self.key_store[..., :length, :], self.value_store[..., :length, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.key_store, self.value_store = self.key_store[indices], self.value_store[indices]
        self.keys, self.values = self.key_store[..., : self.length, :], self.value_store[..., : self.length, :]


def causal_mask(attention_mask: torch.Tensor, t: int) -> torch.Tensor:
    """(B, S+t) 1/0 padding mask -> (B, 1, t, S+t) boolean mask (True = attend) for the last t columns.

    transformers builds this itself from the 2D mask, but asks the GPU whether any row has padding
    first (a host synchronisation per pass); a ready 4D mask is used as it is. A padding column
    attends to itself, so that no row of the mask is empty (sdpa would make NaN there).
    """
    width = attention_mask.shape[1]
    keys = torch.arange(width, device=attention_mask.device)  # (S+t,)
    queries = keys[width - t :, None]  # (t, 1)
    keep = (keys <= queries) & attention_mask.bool()[:, None, None, :]  # (B, 1, t, S+t)
    return keep | (keys == queries)


def uses_own_mask(model) -> bool:
    """Whether the training forward hands the model a 4D mask: on CUDA with sdpa attention, where
    transformers' own mask building costs a host synchronisation per pass. CPU keeps transformers'
    path (the committed reference results were made with it); tests check that the two agree."""
    return model.get_input_embeddings().weight.device.type == "cuda" and getattr(model.config, "_attn_implementation", None) == "sdpa"


def _regrow(store: torch.Tensor, length: int, room: int) -> torch.Tensor:
    grown = store.new_empty(*store.shape[:-2], room, store.shape[-1])
    grown[..., :length, :] = store[..., :length, :]
    return grown


def cache_kwarg(body) -> str:
    """The name a transformers model's forward takes its KV cache by: `cache` from about 5.2x on,
    `past_key_values` before (and deprecated after, until 5.40). An unknown keyword would be ignored
    silently and every pass would run without the earlier columns, so the name is looked up (once per
    model class: every training forward and every generation builds its Passes)."""
    return _cache_kwarg_of(type(body))


@functools.cache
def _cache_kwarg_of(body_class: type) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(body_class.forward).parameters else "past_key_values"


class Passes:
    """Runs the transformer over one batch, a chunk of columns at a time; each chunk attends to every
    earlier one. With the KV cache a chunk costs only its own columns; without it (`use_cache=False`,
    the slow reference path) every call re-runs the whole sequence so far from its input embeddings.

    For generation (`room`: the longest the sequences can get) each call returns the last column's
    hidden state only, (B, 1, C): all that generation reads; with the cache, it appends in place. GPT-2
    models then run the hand-written passes of `gpt2_passes`, which use that to skip work; other
    models run transformers' forward, the first chunk (the prompts up to their first latent) a few
    rows at a time, each group without the columns that are padding in all of its rows.
    """

    def __init__(self, model, use_cache: bool = True, room: int | None = None, own_mask: bool = False, keep_layers: bool = False):
        from transformers import DynamicCache

        self.body = model.base_model  # the transformer and its final norm, without the LM head
        self.own_mask = own_mask  # training passes: hand sdpa a ready 4D mask (see `causal_mask`)
        self.last_only = room is not None  # generation reads each pass's last column only, cached or not
        self.keep_layers = keep_layers  # training: also collect every layer's hidden states (CODI's distillation)
        self.layer_chunks: list[tuple[torch.Tensor, ...]] = []  # per call: (embeddings, block 1, ..., last after the final norm)
        if keep_layers and (room is not None or not use_cache):
            raise ValueError("keep_layers is for the cached training passes")
        self.cache_kwarg = cache_kwarg(self.body)
        self.cache = DynamicCache(config=model.config) if use_cache else None
        self.for_generation = use_cache and room is not None and all(type(layer) is DynamicLayer for layer in self.cache.layers)
        if self.for_generation:
            self.cache.layers = [AppendLayer(room) for _ in self.cache.layers]
        # Decoding steps on CPU get a ready additive mask: sdpa with transformers' boolean padding mask
        # is ~25% slower there, with identical outputs. Not with sliding windows (the mask would have to
        # carry the window) or other attention kernels, and not under CUDA autocast (dtype rules).
        config = model.config
        self.additive_decode_mask = (
            self.for_generation
            and model.device.type == "cpu"
            and getattr(config, "_attn_implementation", None) in ("sdpa", "eager")
            and not getattr(config, "sliding_window", None)
        )
        self.seen_embeds: list[torch.Tensor] = []
        self.seen_positions: list[torch.Tensor] = []
        self.gpt2 = None
        if self.for_generation:
            if gpt2_passes.supports(model):
                self.gpt2 = gpt2_passes.GPT2Passes(model, self.cache.layers)

    def __call__(self, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """embeds (B, t, C), positions (B, t) of the new columns; attention_mask (B, S+t) of all columns
        so far -> last hidden states (B, t, C) of the new columns; for generation (B, 1, C), the last one."""
        if self.cache is None:  # keep copies: a caller may update its tensors in place after the call
            self.seen_embeds.append(embeds.clone())
            self.seen_positions.append(positions.clone())
            everything = torch.cat(self.seen_embeds, 1)  # (B, S+t, C)
            hidden = self.body(inputs_embeds=everything, attention_mask=attention_mask, position_ids=torch.cat(self.seen_positions, 1), use_cache=False).last_hidden_state
            return hidden[:, -1:] if self.last_only else hidden[:, -embeds.shape[1] :]
        if not self.for_generation:
            if self.own_mask:
                attention_mask = causal_mask(attention_mask, embeds.shape[1])
            out = self.body(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions, use_cache=True, **{self.cache_kwarg: self.cache},
                            **({"output_hidden_states": True} if self.keep_layers else {}))
            if self.keep_layers:
                self.layer_chunks.append(tuple(out.hidden_states))
            return out.last_hidden_state
        if self.gpt2 is not None:
            return self.gpt2(embeds, attention_mask, positions)[:, None]
        if self.cache.get_seq_length() == 0:
            return self.prefill_in_groups(embeds, attention_mask, positions)[:, -1:]
        if self.additive_decode_mask and embeds.shape[1] == 1:
            attention_mask = additive_mask(attention_mask, embeds.dtype)
        return self.body(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions, use_cache=True, **{self.cache_kwarg: self.cache}).last_hidden_state[:, -1:]

    def prefill_in_groups(self, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        from transformers import DynamicCache

        B, t, C = embeds.shape
        first_real = attention_mask.int().argmax(1)  # (B,) leading pad columns of each row
        order = first_real.argsort()
        hidden = embeds.new_zeros(B, t, C)  # pad columns left out keep zeros (masked everywhere)
        keys_values: list[tuple[torch.Tensor, torch.Tensor]] = []
        rows_per_group = max(1, PREFILL_TOKENS // t)
        for group in order.split(rows_per_group):
            start = int(first_real[group].min())
            cache = DynamicCache(config=self.body.config)
            out = self.body(inputs_embeds=embeds[group, start:], attention_mask=attention_mask[group, start:t], position_ids=positions[group, start:], use_cache=True, **{self.cache_kwarg: cache})
            hidden[group, start:] = out.last_hidden_state
            for i, layer in enumerate(cache.layers):
                if i == len(keys_values):
                    keys_values.append(tuple(x.new_zeros(B, *x.shape[1:-2], t, x.shape[-1]) for x in (layer.keys, layer.values)))
                keys_values[i][0][group, ..., start:, :] = layer.keys
                keys_values[i][1][group, ..., start:, :] = layer.values
        for layer, (keys, values) in zip(self.cache.layers, keys_values):
            layer.update(keys, values)
        return hidden

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every row not in `rows` (finished generations)."""
        if self.cache is not None:
            self.cache.batch_select_indices(rows)
        self.seen_embeds = [x[rows] for x in self.seen_embeds]
        self.seen_positions = [x[rows] for x in self.seen_positions]


def check_latents(is_latent: torch.Tensor, attention_mask: torch.Tensor) -> None:
    """A thought is made from the previous position, so a latent cannot be a row's first token."""
    first = is_latent[:, 0] | (is_latent[:, 1:] & ~attention_mask[:, :-1].bool()).any(1)
    if first.any():
        raise ValueError(f"rows {first.nonzero().flatten().tolist()} start with <|latent|>; a thought needs a token before it")


def run_in_passes(passes: Passes, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor, is_latent: torch.Tensor, *, feed_hidden: bool,
                  latent_columns: list[int] | None = None, project: nn.Module | None = None) -> torch.Tensor:
    """Last hidden states (B, W, C) of a batch, one pass per column with a latent in some row, plus one.
    With generation's `passes` (which return the last column only) it is (B, passes, C) instead.

    A latent column starts a pass; with `feed_hidden` its latent rows take the hidden state that the
    previous pass ended with (the continuous thought), otherwise they keep their embedding in `embeds`
    (pause-multipass). No other column of the pass holds a latent, so every thought is ready in time.
    `latent_columns` (the columns holding a latent in some row) spares a GPU caller the host read.
    `project` (the model's thought projection, if any) maps each thought before it is fed.
    """
    width = embeds.shape[1]
    if latent_columns is None:
        latent_columns = is_latent.any(0).nonzero().flatten().tolist()
    bounds = [0, *latent_columns, width]
    chunks: list[torch.Tensor] = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        x = embeds[:, start:end]  # (B, t, C)
        if feed_hidden and start > 0:
            thought = chunks[-1][:, -1:]  # (B, 1, C) hidden state of column start-1
            thought = (project(thought) if project is not None else thought).to(x.dtype)
            first = torch.where(is_latent[:, start, None, None], thought, x[:, :1])  # (B, 1, C)
            x = torch.cat([first, x[:, 1:]], 1)
        chunks.append(passes(x, attention_mask[:, :end], positions[:, start:end]))
    return torch.cat(chunks, 1)  # (B, W, C)


# ---------------------------------------------------------------------------------------------------
# Training forward


def latent_forward(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None, *, latent_id: int, feed: str = "hidden", pause_embedding_id: int | None = None,
                   layers: bool = False) -> LatentOutput:
    """Forward of a batch whose `<|latent|>` positions are continuous thoughts (`feed="hidden"`) or the
    fixed `<|pause|>` embedding run in the same sequential passes (`feed="pause"`, pause-multipass).

    input_ids, attention_mask, labels: (B, T), any padding (the collator right-pads), on any device.
    Labels are not shifted (HF convention): logits at t are scored against labels[t+1]; IGNORE (-100) = no loss.
    A batch without latents takes one ordinary pass; otherwise max_count + 1 passes (see module doc).
    The pass layout depends on where the latents are, so it is planned on a CPU copy of the batch: a
    batch handed over on the CPU (as the trainer does) costs the GPU no host synchronisation.
    Thoughts go through the model's thought projection if it has one. `layers`: also return every
    layer's hidden states (transformers' output_hidden_states), in the batch's own columns.
    """
    if feed not in ("hidden", "pause"):
        raise ValueError(f"feed must be 'hidden' or 'pause', got {feed!r}")
    embed = model.get_input_embeddings()
    device = embed.weight.device
    to_device = lambda x: x.to(device, non_blocking=True)  # noqa: E731
    input_ids, attention_mask = input_ids.cpu(), attention_mask.cpu()
    is_latent = (input_ids == latent_id) & attention_mask.bool()  # (B, T)
    own_mask = uses_own_mask(model)
    if not is_latent.any():
        mask = to_device(attention_mask)
        body_mask = causal_mask(mask, mask.shape[1]) if own_mask else mask
        out = model.base_model(inputs_embeds=embed(to_device(input_ids)), attention_mask=body_mask, position_ids=to_device(positions_from_mask(attention_mask)), use_cache=False,
                               **({"output_hidden_states": True} if layers else {}))
        hidden, all_layers = out.last_hidden_state, (tuple(out.hidden_states) if layers else None)
    else:
        check_latents(is_latent, attention_mask)
        shift, ids, mask, latent = align_latents(input_ids, attention_mask, is_latent)  # (B,), then (B, W) each
        latent_columns = latent.any(0).nonzero().flatten().tolist()
        positions = positions_from_mask(mask)
        embeds = embed(to_device(ids))  # (B, W, C)
        latent = to_device(latent)
        if feed == "pause":
            embeds = torch.where(latent[..., None], pause_embedding(model, pause_embedding_id), embeds)
        passes = Passes(model, own_mask=own_mask, keep_layers=layers)
        aligned = run_in_passes(passes, embeds, to_device(mask), to_device(positions), latent,
                                feed_hidden=feed == "hidden", latent_columns=latent_columns, project=thought_projection(model))
        shift = to_device(shift)
        hidden = unshift(aligned, shift, input_ids.shape[1])  # (B, T, C)
        all_layers = tuple(unshift(torch.cat(chunks, 1), shift, input_ids.shape[1]) for chunks in zip(*passes.layer_chunks)) if layers else None
    logits = model.get_output_embeddings()(hidden)  # (B, T, V)
    loss = causal_lm_loss(logits, to_device(labels)) if labels is not None else None
    return LatentOutput(loss=loss, logits=logits, hidden=hidden, layers=all_layers)


class LatentLM(nn.Module):
    """A causal LM whose forward is `latent_forward`, with the stop classifier (if any) beside it: the
    module the trainer runs and that DistributedDataParallel or FSDP wraps, so that every pass of the
    training forward happens inside the wrapper's forward (its hooks see the whole step).

    forward(input_ids, attention_mask, labels, stop_targets=None) -> {"loss", and with stop_targets
    (B, T; -100 = no target) "probe_loss", "probe_correct", "probe_counted"}: the stop probe's BCE on
    the hidden states of the marked positions.

    With `codi` (a CodiLoss's fields) and a teacher batch (CODI's collate), "loss" is CODI's total
    (`codi_loss`), with "student_loss", "teacher_loss" and "distill_loss" beside it.
    """

    def __init__(self, lm, *, latent_id: int, feed: str = "hidden", pause_embedding_id: int | None = None, stop_classifier: StopClassifier | None = None,
                 codi: dict | None = None):
        super().__init__()
        self.lm = lm
        self.codi = CodiLoss(**codi) if codi else None
        self.stop_classifier = stop_classifier
        self.latent_id, self.feed, self.pause_embedding_id = latent_id, feed, pause_embedding_id
        # Under DDP every parameter must get a gradient in every step: the probe then also touches
        # batches without thought positions (a zero loss), which a single process leaves alone.
        self.touch_probe_always = False

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None, stop_targets: torch.Tensor | None = None,
                **teacher: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.codi is not None and teacher:
            return self.codi_loss(input_ids, attention_mask, labels, **teacher)
        if teacher:
            raise ValueError(f"a teacher batch ({', '.join(teacher)}) needs LatentLM(codi=...)")
        out = latent_forward(self.lm, input_ids, attention_mask, labels, latent_id=self.latent_id, feed=self.feed, pause_embedding_id=self.pause_embedding_id)
        result = {"loss": out.loss}
        if self.stop_classifier is not None and stop_targets is not None:
            result.update(self.probe_loss(out.hidden, stop_targets.cpu()))
        return result

    def codi_loss(self, input_ids, attention_mask, labels, *, teacher_input_ids, teacher_attention_mask, teacher_labels, student_position, teacher_position) -> dict[str, torch.Tensor]:
        """CODI's loss (docs/methods.md): student CE + distill_weight * distillation + teacher_weight * teacher CE.
        The teacher runs once; its hidden states are distillation targets (detached), its CE trains it."""
        weights = self.codi
        distill = weights.distill_weight > 0
        student = latent_forward(self.lm, input_ids, attention_mask, labels, latent_id=self.latent_id, feed=self.feed, pause_embedding_id=self.pause_embedding_id, layers=distill)
        teacher = latent_forward(self.lm, teacher_input_ids, teacher_attention_mask, teacher_labels, latent_id=self.latent_id, layers=distill)
        if distill:
            device = student.hidden.device
            distance = distillation_loss(student.layers, teacher.layers, student_position.to(device, non_blocking=True), teacher_position.to(device, non_blocking=True), weights.distance)
        else:
            distance = student.loss.new_zeros(())
        loss = student.loss + weights.distill_weight * distance + weights.teacher_weight * teacher.loss
        return {"loss": loss, "student_loss": student.loss.detach(), "teacher_loss": teacher.loss.detach(), "distill_loss": distance.detach()}

    def probe_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """BCE of the stop probe at the positions where `targets` (CPU, (B, T)) is not -100."""
        rows, columns = (targets != IGNORE).nonzero(as_tuple=True)  # planned on the CPU: no host read
        if len(rows) == 0:
            zero = hidden.new_zeros((), dtype=torch.float32)
            if self.touch_probe_always:
                zero = zero + 0.0 * self.stop_classifier(hidden[:1, 0].float()).sum()
            return {"probe_loss": zero, "probe_correct": zero.detach().long(), "probe_counted": torch.zeros((), dtype=torch.long)}
        picked = hidden[rows.to(hidden.device, non_blocking=True), columns.to(hidden.device, non_blocking=True)]  # (N, C)
        logits = self.stop_classifier(picked.float())  # (N,)
        labels = targets[rows, columns].to(hidden.device, non_blocking=True).float()
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        correct = ((logits > 0).float() == labels).sum()
        return {"probe_loss": loss, "probe_correct": correct, "probe_counted": torch.tensor(len(rows))}


@dataclass(frozen=True)
class CodiLoss:
    """The weights and distance of CODI's loss (config.CodiSettings)."""

    teacher_weight: float = 1.0
    distill_weight: float = 1.0
    distance: str = "smooth_l1"  # or "l1"

    def __post_init__(self):
        if self.distance not in ("smooth_l1", "l1"):
            raise ValueError(f"distance must be 'smooth_l1' or 'l1', got {self.distance!r}")


def distillation_loss(student_layers, teacher_layers, student_position: torch.Tensor, teacher_position: torch.Tensor, distance: str = "smooth_l1") -> torch.Tensor:
    """CODI's distillation: the mean over layers (embeddings and every block, as transformers' hidden
    states list them) of distance(h_student, h_teacher) / std(h_teacher), where h is each row's hidden
    state at its position ((B,) each), the distance is the mean over batch x hidden (smooth-L1 with
    beta 1, or L1), and std is one scalar per layer over batch x hidden, torch's default (unbiased).
    The teacher's states are targets: detached, so no gradient reaches the teacher through them."""
    rows = torch.arange(student_position.shape[0], device=student_position.device)
    measure = F.smooth_l1_loss if distance == "smooth_l1" else F.l1_loss
    per_layer = []
    for h_student, h_teacher in zip(student_layers, teacher_layers, strict=True):
        s = h_student[rows, student_position].float()  # (B, C)
        t = h_teacher[rows, teacher_position].detach().float()  # (B, C)
        per_layer.append(measure(s, t) / t.std())
    return torch.stack(per_layer).mean()


def pause_embedding(model, pause_id: int | None) -> torch.Tensor:
    if pause_id is None:
        raise ValueError("feed='pause' needs pause_embedding_id (the <|pause|> token id)")
    return model.get_input_embeddings().weight[pause_id]  # (C,)


def align_latents(input_ids: torch.Tensor, attention_mask: torch.Tensor, is_latent: torch.Tensor):
    """Shift each row right (into left padding) so that every row's first latent is in the same column.

    Returns (shift (B,), input_ids, attention_mask, is_latent (B, W)); W drops the columns that are
    padding in every row. Rows without latents are not shifted.
    """
    B, T = input_ids.shape
    has = is_latent.any(1)  # (B,)
    first = is_latent.int().argmax(1)  # (B,) first latent column (0 for rows without)
    shift = torch.where(has, first[has].max() - first, 0)  # (B,)
    rows = torch.arange(B, device=input_ids.device)[:, None]
    columns = torch.arange(T, device=input_ids.device) + shift[:, None]  # (B, T) new column of each old one
    shifted = []
    for x in (input_ids, attention_mask, is_latent):
        out = x.new_zeros(B, T + int(shift.max()))
        out[rows, columns] = x
        shifted.append(out)
    width = int(shifted[1].any(0).nonzero().max()) + 1
    return (shift, *(x[:, :width] for x in shifted))


def unshift(x: torch.Tensor, shift: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of align_latents: (B, W, ...) -> (B, length, ...) in the original columns."""
    B = x.shape[0]
    columns = (torch.arange(length, device=x.device) + shift[:, None]).clamp(max=x.shape[1] - 1)  # (B, T)
    return x[torch.arange(B, device=x.device)[:, None], columns]


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the prediction at t against labels[t+1], over labels != IGNORE."""
    targets = labels[:, 1:]  # (B, T-1)
    total = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE, reduction="sum")
    return total / (targets != IGNORE).sum().clamp(min=1)


# ---------------------------------------------------------------------------------------------------
# Generation


def left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, P), prompts right-aligned."""
    width = max(len(p) for p in prompts)
    if min(len(p) for p in prompts) == 0:
        raise ValueError("generate() got an empty prompt")
    ids = [[pad_id] * (width - len(p)) + list(p) for p in prompts]
    mask = [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def generation_attention(device: torch.device):
    """The attention kernels generation may use. Under bf16 autocast on CUDA: flash attention for the
    unmasked causal prefill, the plain (math) kernel for every masked pass. With sdpa's own choice,
    batched bf16 decoding on an H100 (torch 2.11) failed with "CUDA error: misaligned address"; with
    cuDNN attention forced it failed on the masked decoding pass, with the memory-efficient or the
    plain kernel forced it passed (results/gpu/). The plain one is what was measured: a masked pass
    reads one query column, so it costs little."""
    import contextlib

    if device.type != "cuda" or not torch.is_autocast_enabled("cuda"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH])


@torch.inference_mode()
def generate(model, prompts: list[list[int]], *, ids: TokenIds, max_new_tokens: int, feed: str = "hidden", stop_classifier=None, max_thoughts: int | None = None, use_cache: bool = True,
             keep_thoughts: bool = False, logits_at: Iterable[int] = ()) -> list[Generation]:
    """Greedy decoding of a batch of prompts (any lengths), with continuous thoughts.

    - `<|latent|>` tokens in a prompt (`Q bot <latent>xK eot`) are thoughts, filled in order in the
      prefill passes.
    - A prompt ending in bot, given `stop_classifier` and/or `max_thoughts`, thinks here: one thought
      per step until sigmoid(stop_classifier(h)) > 0.5 on the hidden state h that would be fed as the
      next thought (each row on its own), or `max_thoughts` thoughts (default max_new_tokens); the
      engine then feeds eot. Without a classifier that is a fixed `max_thoughts` thoughts.
    - Then language until EOS or `max_new_tokens` tokens (EOS included), each row on its own.
    With `feed="pause"` every thought input is the `<|pause|>` embedding instead (pause-multipass).

    Counts per row (docs/methods.md). generated_tokens: each thought counts 1 (pause-feed thoughts are pauses
    and count 0), each generated token not in `ids.uncounted` counts 1 (bot, eot, pause, pad, EOS
    don't). forward_passes: the sequential passes the row needs on its own = 1 (prefill, up to the
    first latent) + 1 per thought (prompt latents and thoughts generated here) + 1 for the eot fed
    after thinking here + 1 per generated token except the last (the last one, EOS or not, is read
    from the previous pass). E.g. `Q bot <latent>x6 eot` answering 8 tokens + EOS: 1 + 6 + 8 = 15.
    `use_cache=False` re-runs the whole sequence at every pass (slow reference/baseline path).

    For analysis, each Generation can carry a `Trace` (fp32, CPU): with `keep_thoughts` the hidden state
    fed at each thought slot (for feed="pause", the hidden state before each pause slot, which is not
    fed); with `logits_at` the logits of the chosen language steps (0 = the first token after the prompt
    or after the engine's eot). Asking costs a host read per step; not asking costs nothing. The number
    of thoughts is the prompt's: `Q bot <latent>xk eot` forces eot after exactly k thoughts. With a
    thought projection on the model, the Trace keeps the hidden state before it (what the LM head reads);
    the projected vector is what goes in.
    """
    if feed not in ("hidden", "pause"):
        raise ValueError(f"feed must be 'hidden' or 'pause', got {feed!r}")
    was_training = model.training
    model.eval()
    try:
        with generation_attention(model.get_input_embeddings().weight.device):
            tracer = _Tracer(len(prompts), keep_thoughts, logits_at) if keep_thoughts or logits_at else None
            return _generate(model, prompts, ids, max_new_tokens, feed, stop_classifier, max_thoughts, use_cache, tracer)
    finally:
        model.train(was_training)


def _generate(model, prompts, ids: TokenIds, max_new_tokens, feed, stop_classifier, max_thoughts, use_cache, tracer: _Tracer | None) -> list[Generation]:
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    device = embed.weight.device
    pause = embed.weight[ids.pause]  # (C,) the fixed thought of the pause feed

    # Prefill: the prompts, with their <|latent|> slots filled in order.
    input_ids, mask = left_pad(prompts, ids.pad, device)  # (B, P)
    is_latent = (input_ids == ids.latent) & mask.bool()  # (B, P)
    check_latents(is_latent, mask)
    embeds = embed(input_ids)  # (B, P, C)
    if feed == "pause":
        embeds = torch.where(is_latent[..., None], pause, embeds)
    thought_cap = max_thoughts if max_thoughts is not None else max_new_tokens
    room = input_ids.shape[1] + thought_cap + max_new_tokens + 1  # the longest a row can get
    passes = Passes(model, use_cache, room=room)
    positions = positions_from_mask(mask)  # (B, P)
    project = thought_projection(model) if feed == "hidden" else None
    ends = run_in_passes(passes, embeds, mask, positions, is_latent, feed_hidden=feed == "hidden", project=project)  # (B, passes, C): each pass's last column
    hidden = ends[:, -1]  # (B, C)
    if tracer is not None:
        tracer.prompt(ends, is_latent)

    # Each row is thinking (deciding its next thought), speaking (emitting tokens) or done. Finished rows
    # leave the batch (and the cache), so a few long answers do not keep paying for the short ones.
    # Per-row state is kept for all B rows; `active` maps the rows still in the batch to their index.
    B = len(prompts)
    active = torch.arange(B, device=device)  # (A,)
    slots = is_latent.sum(1)  # (B,) thoughts filled in the prompt
    thinking = (input_ids[:, -1] == ids.bot) & (stop_classifier is not None or max_thoughts is not None)  # (B,)
    thoughts = torch.zeros(B, dtype=torch.long, device=device)  # thoughts generated here
    spoken = torch.zeros(B, dtype=torch.long, device=device)  # tokens generated, EOS included
    row_passes = 1 + slots  # (B,)
    emitted: list[torch.Tensor] = []  # per step (B,): the token each row generated there, -1 if none
    next_position = positions[:, -1] + 1  # (A,)
    while True:
        # Thinking rows: stop (feed eot next), or feed the hidden state as the next thought.
        was_thinking = thinking[active]  # (A,)
        stop = was_thinking & (thoughts[active] >= thought_cap)
        if stop_classifier is not None and bool(was_thinking.any()):
            stop |= was_thinking & (stop_classifier(hidden.float()) > 0)  # sigmoid > 0.5  <=>  logit > 0
        think = was_thinking & ~stop
        # Speaking rows: the greedy next token.
        speaking = ~was_thinking & (max_new_tokens > 0)
        logits = head(hidden)  # (A, V)
        token = logits.argmax(-1)  # (A,)
        if tracer is not None:
            tracer.step(active, think, speaking, spoken[active], logits, hidden)
        emitted.append(torch.full((B,), -1, device=device).index_copy(0, active, torch.where(speaking, token, -1)))
        spoken[active] += speaking.long()
        thoughts[active] += think.long()
        thinking[active] = think
        finished = (speaking & ((token == ids.eos) | (spoken[active] >= max_new_tokens))) | (~think & (max_new_tokens <= 0))
        if bool(finished.all()):
            break
        # One more column for every row still going: a thought, eot or its new token.
        next_ids = torch.where(stop, ids.eot, torch.where(speaking, token, ids.pad))  # (A,)
        x = embed(next_ids)  # (A, C)
        thought = pause if feed == "pause" else project(hidden) if project is not None else hidden
        x = torch.where(think[:, None], thought.to(x.dtype), x)
        if bool(finished.any()):
            going = (~finished).nonzero().flatten()
            passes.keep(going)
            active, x, mask, next_position = active[going], x[going], mask[going], next_position[going]
        mask = torch.cat([mask, mask.new_ones(len(active), 1)], 1)  # (A, S+1)
        hidden = passes(x[:, None], mask, next_position[:, None])[:, -1]  # (A, C)
        next_position = next_position + 1
        row_passes[active] += 1

    traces = tracer.traces(hidden.shape[-1]) if tracer is not None else [None] * B
    return _package(torch.stack(emitted, 1).tolist(), (slots + thoughts).tolist(), row_passes.tolist(), ids, feed, traces)


def _package(emitted: list[list[int]], num_thoughts: list[int], passes: list[int], ids: TokenIds, feed: str, traces: list[Trace | None]) -> list[Generation]:
    generations = []
    uncounted = ids.uncounted
    for row, n_thoughts, n_passes, trace in zip(emitted, num_thoughts, passes, traces):
        tokens = [t for t in row if t >= 0]
        language = tokens[:-1] if tokens and tokens[-1] == ids.eos else tokens
        counted = sum(t not in uncounted for t in tokens) + (n_thoughts if feed == "hidden" else 0)
        generations.append(Generation(token_ids=language, num_thoughts=n_thoughts, generated_tokens=counted, forward_passes=n_passes, trace=trace))
    return generations


class _Tracer:
    """Collects a `Trace` per row while `_generate` runs; built only when asked for, so that plain
    generation takes no extra step (and no host read)."""

    def __init__(self, rows: int, keep_thoughts: bool, logits_at: Iterable[int]):
        self.keep_thoughts = keep_thoughts
        self.logits_at = frozenset(logits_at)
        self.thoughts: list[list[torch.Tensor]] = [[] for _ in range(rows)]  # per row: (C,) each
        self.logits: list[dict[int, torch.Tensor]] = [{} for _ in range(rows)]

    def prompt(self, ends: torch.Tensor, is_latent: torch.Tensor) -> None:
        """The prompt's thoughts: pass j ends just before the j-th latent column, so its last hidden
        state is the thought of the rows that hold a latent in that column."""
        if not self.keep_thoughts:
            return
        columns = is_latent.any(0).nonzero().flatten()
        fed = is_latent[:, columns]  # (B, passes - 1)
        for row, thoughts in enumerate(self.thoughts):
            thoughts.extend(ends[row, :-1][fed[row]])

    def step(self, active: torch.Tensor, think: torch.Tensor, speaking: torch.Tensor, spoken: torch.Tensor, logits: torch.Tensor, hidden: torch.Tensor) -> None:
        """One decoding step: `think` rows are fed `hidden` as their next thought; `speaking` rows
        choose their token number `spoken` (0-based) from `logits`."""
        rows = active.tolist()
        if self.keep_thoughts:
            for a in think.nonzero().flatten().tolist():
                self.thoughts[rows[a]].append(hidden[a])
        if self.logits_at:
            for a, step in zip(speaking.nonzero().flatten().tolist(), spoken[speaking].tolist()):
                if step in self.logits_at:
                    self.logits[rows[a]][step] = logits[a].float().cpu()

    def traces(self, width: int) -> list[Trace]:
        return [Trace(thoughts=torch.stack(t).float().cpu() if t else torch.zeros(0, width), logits=logits)
                for t, logits in zip(self.thoughts, self.logits)]
