"""Tokenizers: an offline word-level tokenizer for from-scratch models, and the latent special tokens.

The word-level tokenizer keeps a word's leading space inside its token (" lempus"), like GPT-2's BPE,
so `decode(encode(text)) == text` exactly and answers can be scored on the decoded string. Digits are
single tokens so that unseen numbers (GSM8k, multiplication) never fall out of the vocabulary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

BOT = "<|start-latent|>"
LATENT = "<|latent|>"
EOT = "<|end-latent|>"
PAUSE = "<|pause|>"
LATENT_TOKENS = (BOT, LATENT, EOT, PAUSE)
PAD = "<|pad|>"
EOS = "<|endoftext|>"
UNK = "<|unk|>"

# A newline, one punctuation mark, a word, or a single digit; each may carry one leading space.
# Any other whitespace character stands alone, so odd spacing survives the round trip.
WORD_PATTERN = r"\n| ?[^\s\p{L}\p{N}]| ?\p{L}+| ?\p{N}|\s"

# New embedding rows copy this token's row, as the official Coconut code does with GPT-2's "<<".
EMBEDDING_SOURCE_TOKENS = ("<<", " is", "<")


@dataclass(frozen=True)
class TokenIds:
    """Ids of the tokens the methods and the engine treat specially."""

    bot: int
    latent: int
    eot: int
    pause: int
    pad: int
    eos: int

    @property
    def uncounted(self) -> frozenset[int]:
        """Tokens that do not count as generated (SPEC 3): bot, eot, pause, pad, EOS."""
        return frozenset({self.bot, self.eot, self.pause, self.pad, self.eos})


def token_ids(tokenizer) -> TokenIds:
    ids = tokenizer.convert_tokens_to_ids
    return TokenIds(bot=ids(BOT), latent=ids(LATENT), eot=ids(EOT), pause=ids(PAUSE), pad=tokenizer.pad_token_id, eos=tokenizer.eos_token_id)


def _pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")


def pretokenize(text: str) -> list[str]:
    """The word-level tokens of `text` (what the default tokenizer's vocabulary is made of)."""
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(text)]


def build_word_tokenizer(texts: Iterable[str], min_frequency: int = 1):
    """A word-level `PreTrainedTokenizerFast` whose vocabulary is every token seen in `texts`.

    Digits 0-9 (with and without a leading space) are always included. Order is deterministic:
    special tokens first, then tokens by decreasing frequency, ties alphabetically.
    """
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(pretokenize(text))
    for digit in "0123456789":
        counts[digit] += min_frequency
        counts[" " + digit] += min_frequency
    specials = [PAD, EOS, UNK, *LATENT_TOKENS]
    words = sorted((w for w, n in counts.items() if n >= min_frequency and w not in specials), key=lambda w: (-counts[w], w))
    vocab = {token: i for i, token in enumerate(specials + words)}

    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = _pre_tokenizer()
    core.decoder = decoders.Fuse()  # tokens carry their own spaces: concatenate them
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        bos_token=EOS,
        unk_token=UNK,
        extra_special_tokens=list(LATENT_TOKENS),
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def add_latent_tokens(tokenizer, model) -> list[int]:
    """Give a (pretrained) tokenizer the latent tokens and a pad token; grow and initialise the embeddings.

    Returns the ids of the rows that were added (and initialised by copying an existing token's row).
    """
    missing = [t for t in LATENT_TOKENS if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD})
    old_rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old_rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # rows are set below
    new_ids = list(range(old_rows, len(tokenizer)))
    initialise_rows(tokenizer, model, new_ids)
    return new_ids


def initialise_rows(tokenizer, model, row_ids: list[int]) -> None:
    """Copy an existing token's input (and, if untied, output) embedding into `row_ids`."""
    import torch

    if not row_ids:
        return
    source = next((tokenizer.convert_tokens_to_ids(t) for t in EMBEDDING_SOURCE_TOKENS if tokenizer.convert_tokens_to_ids(t) not in (None, tokenizer.unk_token_id)), 0)
    with torch.no_grad():
        for layer in {id(m): m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None}.values():
            layer.weight[row_ids] = layer.weight[source].clone()
