"""Model presets, local pretrained models and checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from cocobench.engine import generate
from cocobench.errors import CocobenchError
from cocobench.models import PRESETS, build_model_and_tokenizer, load_checkpoint, preset_config, save_checkpoint
from cocobench.tokenizer import BOT, EOT, LATENT, LATENT_TOKENS, PAUSE, token_ids

TEXTS = ["Every wumpus is a yumpus. Tom is a wumpus.\n### Tom is a yumpus.", "Is Sally a rempus or a lorpus?"]


def test_preset_shapes():
    shapes = {name: preset_config(name, 100, pad_id=0, eos_id=1, bos_id=1) for name in PRESETS}
    assert (shapes["gpt2-124m"].n_layer, shapes["gpt2-124m"].n_embd, shapes["gpt2-124m"].n_head) == (12, 768, 12)
    assert (shapes["gpt2-cpu"].n_layer, shapes["gpt2-cpu"].n_embd, shapes["gpt2-cpu"].n_head) == (4, 256, 4)
    assert shapes["gpt2-tiny"].n_positions == shapes["llama-tiny"].max_position_embeddings == 1024
    demo, wide = shapes["llama-2l-64"], shapes["llama-2l-128"]  # the demo's and the symbolic runs' rotary models
    assert (demo.num_hidden_layers, demo.hidden_size, demo.num_attention_heads, demo.initializer_range) == (2, 64, 4, 0.05)
    assert (wide.num_hidden_layers, wide.hidden_size, wide.num_attention_heads, wide.num_key_value_heads) == (2, 128, 8, 8)
    assert not demo.tie_word_embeddings and not wide.tie_word_embeddings


@pytest.mark.parametrize("name", ["gpt2-tiny", "llama-tiny"])
def test_preset_builds_vocabulary_seeded_weights_and_copied_latent_rows(name):
    model, tokenizer = build_model_and_tokenizer(name, TEXTS, seed=3)
    ids = token_ids(tokenizer)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == model.config.vocab_size
    assert (model.config.pad_token_id, model.config.eos_token_id) == (ids.pad, ids.eos)
    source = tokenizer.convert_tokens_to_ids(" is")
    weight = model.get_input_embeddings().weight
    for token in LATENT_TOKENS:
        assert torch.equal(weight[tokenizer.convert_tokens_to_ids(token)], weight[source])
    again, _ = build_model_and_tokenizer(name, TEXTS, seed=3)
    other, _ = build_model_and_tokenizer(name, TEXTS, seed=4)
    assert torch.equal(again.get_input_embeddings().weight, weight)
    assert not torch.equal(other.get_input_embeddings().weight, weight)


def test_preset_needs_training_texts():
    with pytest.raises(ValueError, match="train_texts"):
        build_model_and_tokenizer("gpt2-tiny")


def test_unknown_model_name_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CocobenchError, match=r"model 'gpt2-tny'; did you mean 'gpt2-tiny'\? presets: gpt2-tiny.*save_pretrained directory"):
        build_model_and_tokenizer("gpt2-tny", TEXTS)
    with pytest.raises(CocobenchError, match=r"model 'nosuch-model' is neither a preset \(gpt2-tiny.*save_pretrained directory"):
        build_model_and_tokenizer("nosuch-model", TEXTS)
    with pytest.raises(CocobenchError, match="no config.json"):
        build_model_and_tokenizer(str(tmp_path), TEXTS)


def test_a_path_is_a_path_and_a_misspelt_preset_never_waits_on_the_network(tmp_path, monkeypatch):
    """`./no/such/dir`, a file, or one typo from a preset: an error at once, never a hub download (and its retries)."""
    import cocobench.models

    def offline_only(name, local_files_only=True):
        assert local_files_only, f"'{name}' was looked up on the hub"
        raise OSError("not in the cache")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(cocobench.models, "_from_pretrained", offline_only)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"x")
    for name, message in (("./no/such/dir", "does not exist"), ("no/such/dir", "does not exist"), (str(tmp_path / "gone"), "does not exist"),
                          ("weights.bin", "is a file"), ("gpt3-tiny", "did you mean 'gpt2-tiny'"), ("llama-tinyy", "did you mean 'llama-tiny'")):
        with pytest.raises(CocobenchError, match=message):
            build_model_and_tokenizer(name, TEXTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2-tiny", "llama-tiny"])
def test_checkpoint_round_trip(tmp_path, name):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = build_model_and_tokenizer(name, TEXTS, seed=0)
    model.eval()
    ids = token_ids(tokenizer)
    question = tokenizer.encode("Every wumpus is a yumpus. Is Tom a yumpus?\n", add_special_tokens=False)
    prompts = [question + [ids.bot] + [ids.latent] * 2 + [ids.eot], question[:4]]
    before = generate(model, prompts, ids=ids, max_new_tokens=5)

    path = tmp_path / "ckpt"
    save_checkpoint(path, model, tokenizer, {"method": "coconut", "options": {"c": 1}}, extra_files={"probe.pt": {"w": torch.ones(2)}})
    loaded, loaded_tokenizer, metadata = load_checkpoint(path)
    assert metadata == {"method": "coconut", "options": {"c": 1}}
    assert token_ids(loaded_tokenizer) == ids
    assert generate(loaded, prompts, ids=token_ids(loaded_tokenizer), max_new_tokens=5) == before
    assert torch.equal(torch.load(path / "probe.pt")["w"], torch.ones(2))
    assert (path / "model.safetensors").is_file()

    plain = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)  # plain transformers opens it
    plain_tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    assert plain_tokenizer.decode(plain_tokenizer.encode("Every wumpus is a yumpus.")) == "Every wumpus is a yumpus."
    x = torch.tensor([question])
    assert torch.allclose(plain(input_ids=x).logits, model(input_ids=x).logits, atol=1e-6)

    save_checkpoint(path, model, tokenizer, {"method": "cot"})  # overwriting replaces the whole directory
    assert load_checkpoint(path)[2] == {"method": "cot"} and not (path / "probe.pt").exists()


def test_load_checkpoint_rejects_non_models(tmp_path):
    with pytest.raises(CocobenchError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CocobenchError, match="not a model checkpoint"):
        load_checkpoint(tmp_path)


def plain_gpt2_directory(path):
    """A tiny GPT-2 and a tokenizer without latent or pad tokens, saved the plain transformers way."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, "<<": 1, "Tom": 2, "is": 3, "a": 4, "cat": 5, "[UNK]": 6}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", unk_token="[UNK]")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_layer=1, n_embd=32, n_head=2, bos_token_id=0, eos_token_id=0))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model


def test_local_pretrained_directory_gets_latent_tokens(tmp_path):
    original = plain_gpt2_directory(tmp_path / "gpt2")
    model, tokenizer = build_model_and_tokenizer(str(tmp_path / "gpt2"))
    ids = token_ids(tokenizer)
    assert len(tokenizer) == 7 + 5 and model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert tokenizer.pad_token_id == ids.pad == model.config.pad_token_id
    weight = model.get_input_embeddings().weight
    assert torch.equal(weight[:7], original.get_input_embeddings().weight)  # the old rows are kept
    for token in (BOT, LATENT, EOT, PAUSE):
        assert torch.equal(weight[tokenizer.convert_tokens_to_ids(token)], weight[1])  # copies of "<<"
    out = generate(model.eval(), [[2, 3, ids.bot, ids.latent, ids.eot]], ids=ids, max_new_tokens=2)
    assert out[0].num_thoughts == 1
    # Its saved form loads as a checkpoint without metadata.
    save_checkpoint(tmp_path / "ckpt", model, tokenizer, {})
    assert token_ids(load_checkpoint(tmp_path / "ckpt")[1]) == ids


def test_saved_directory_metadata_is_json(tmp_path):
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", TEXTS)
    save_checkpoint(tmp_path / "c", model, tokenizer, {"method": "pause", "options": {"pause_tokens": 6}})
    assert json.loads((tmp_path / "c" / "cocobench.json").read_text())["options"] == {"pause_tokens": 6}


HUB_ID = "cocobench-test/no-such-model"


def test_hub_id_with_hf_hub_offline_is_one_line_with_the_fix(tiny_prosqa, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cocobench.cli import app
    from tests.conftest import one_line_error

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(app, ["run", "--data", str(tiny_prosqa), "--model", HUB_ID, "--out", str(tmp_path / "r"), "--quiet"])
    one_line_error(result, f"model '{HUB_ID}'", "HF_HUB_OFFLINE=1", f"huggingface-cli download {HUB_ID}", "save_pretrained directory")


def unreachable_hub(monkeypatch):
    """Stands in for an unreachable network: every hub download fails as huggingface_hub's does;
    records whether each call was allowed to download."""
    import transformers.utils.hub
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    calls = []

    def download(repo_id, filename, *args, local_files_only=False, **kwargs):
        calls.append(local_files_only)
        raise LocalEntryNotFoundError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(transformers.utils.hub, "hf_hub_download", download)
    return calls


def test_hub_id_on_an_unreachable_network_is_a_user_error_with_the_fix(monkeypatch):
    calls = unreachable_hub(monkeypatch)
    with pytest.raises(CocobenchError) as error:
        build_model_and_tokenizer(HUB_ID)
    message = str(error.value)
    assert "could not be downloaded (no network, or no such model on the hub)" in message
    assert f"huggingface-cli download {HUB_ID}` on a machine with internet" in message and "\n" not in message
    assert calls and not all(calls)  # the cache alone was not the end of it: a download was tried


def test_the_untied_symbolic_preset_keeps_its_own_head_through_a_checkpoint(tmp_path):
    """gpt2-2l-128-untied: 8 heads, an LM head that is not the input embedding, weights drawn at 0.05
    (not GPT-2's 0.02); saved and loaded, the head stays a separate matrix with its trained values."""
    model, tokenizer = build_model_and_tokenizer("gpt2-2l-128-untied", symbolic=True, seed=0)
    head, embedding = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    assert model.config.n_head == 8 and head.data_ptr() != embedding.data_ptr() and not torch.equal(head, embedding)
    assert float(model.transformer.h[0].attn.c_attn.weight.std()) == pytest.approx(0.05, rel=0.05)
    tied, _ = build_model_and_tokenizer("gpt2-2l-128", symbolic=True, seed=0)
    assert tied.get_output_embeddings().weight.data_ptr() == tied.get_input_embeddings().weight.data_ptr()
    save_checkpoint(tmp_path / "ckpt", model, tokenizer, {})
    loaded = load_checkpoint(tmp_path / "ckpt")[0]
    assert torch.equal(loaded.get_output_embeddings().weight, head) and torch.equal(loaded.get_input_embeddings().weight, embedding)
    assert loaded.get_output_embeddings().weight.data_ptr() != loaded.get_input_embeddings().weight.data_ptr()
    untied, nodrop = (preset_config(name, 41, pad_id=0, eos_id=1, bos_id=1) for name in ("gpt2-2l-128-untied", "gpt2-2l-128-untied-nodrop"))
    assert (nodrop.resid_pdrop, nodrop.embd_pdrop, nodrop.attn_pdrop) == (0.0, 0.0, 0.0) and untied.resid_pdrop == 0.1
    assert {k: v for k, v in nodrop.to_dict().items() if not k.endswith("pdrop")} == {k: v for k, v in untied.to_dict().items() if not k.endswith("pdrop")}
