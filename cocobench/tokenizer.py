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
        """Tokens that do not count as generated (the paper's token rule): bot, eot, pause, pad, EOS."""
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
    return wrap_word_tokenizer(word_tokenizer_core(texts, min_frequency))


def word_tokenizer_core(texts: Iterable[str], min_frequency: int = 1):
    """The `tokenizers.Tokenizer` of `build_word_tokenizer` (what its cache stores, `to_str()`)."""
    from tokenizers import Tokenizer, decoders, models

    pre_tokenizer = _pre_tokenizer()  # built once: compiling its pattern per text took half the time
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(piece for piece, _ in pre_tokenizer.pre_tokenize_str(text))
    for digit in "0123456789":
        counts[digit] += min_frequency
        counts[" " + digit] += min_frequency
    specials = [PAD, EOS, UNK, *LATENT_TOKENS]
    words = sorted((w for w, n in counts.items() if n >= min_frequency and w not in specials), key=lambda w: (-counts[w], w))
    vocab = {token: i for i, token in enumerate(specials + words)}

    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = _pre_tokenizer()
    core.decoder = decoders.Fuse()  # tokens carry their own spaces: concatenate them
    return core


def wrap_word_tokenizer(core):
    """The `PreTrainedTokenizerFast` around a word-level `tokenizers.Tokenizer` (built, or read back)."""
    from transformers import PreTrainedTokenizerFast

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


# --- Symbolic ProsQA (cocobench.tasks.prosqa_symbolic): a fixed vocabulary, every node one token ---
# Ids 0-39 are the anchor's (stokenizer.py of "Reasoning by Superposition"): node ids 0-30, then its
# specials; `<|pause|>` (40) is cocobench's, for the pause methods. `<eos>` is also pad and BOS.
SYMBOLIC_EOS = "<eos>"
SYMBOLIC_VOCAB = (*(str(i) for i in range(31)), BOT, EOT, LATENT, "|", "[Q]", "[R]", "[A]", SYMBOLIC_EOS, "<|no-answer|>", PAUSE)


def build_symbolic_tokenizer():
    """The symbolic tokenizer: whitespace-separated tokens, each in SYMBOLIC_VOCAB (anything else is an
    error, as in the anchor); `add_special_tokens=True` puts `<eos>` first, the anchor's prompt start."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SYMBOLIC_VOCAB)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single=f"{SYMBOLIC_EOS} $A", special_tokens=[(SYMBOLIC_EOS, vocab[SYMBOLIC_EOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=SYMBOLIC_EOS, eos_token=SYMBOLIC_EOS, bos_token=SYMBOLIC_EOS,
                                   extra_special_tokens=list(LATENT_TOKENS), clean_up_tokenization_spaces=False)


def is_symbolic_tokenizer(tokenizer) -> bool:
    return tokenizer.get_vocab() == {token: i for i, token in enumerate(SYMBOLIC_VOCAB)}


@dataclass(frozen=True)
class SequenceFormat:
    """How an example's text becomes a sequence: what ends the question and each step, what starts the
    answer, and how the answer is read back from generated text."""

    question_end: str
    step_end: str
    answer_start: str
    answer_marker: str  # the answer is read after the last one
    one_token_answer: bool  # symbolic: the answer is the first token after the marker

    def extract(self, text: str) -> str:
        """The prediction in generated text: after the last marker; language: commas removed, stripped
        (so `### 1,234` reads 1234); symbolic: the one token that follows ('' if none)."""
        from cocobench.scoring import normalize_answer

        if self.answer_marker not in text:
            return ""
        tail = text.rsplit(self.answer_marker, 1)[1]
        if self.one_token_answer:
            return (tail.split() or [""])[0]
        return normalize_answer(tail)


LANGUAGE_FORMAT = SequenceFormat(question_end="\n", step_end="\n", answer_start="### ", answer_marker="#", one_token_answer=False)
SYMBOLIC_FORMAT = SequenceFormat(question_end="", step_end="", answer_start="[A] ", answer_marker="[A]", one_token_answer=True)


def sequence_format(tokenizer) -> SequenceFormat:
    return SYMBOLIC_FORMAT if is_symbolic_tokenizer(tokenizer) else LANGUAGE_FORMAT
