"""Settings: defaults < YAML < command line; bad values are rejected before any work starts."""

import pytest

from cocobench.config import RunConfig, resolve_config
from cocobench.errors import CocobenchError


def test_precedence_defaults_yaml_cli(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("task: prosqa\nmethod: cot\nlr: 0.001\nepochs: 3\nmax-latent-stage: 4\n")
    cfg = resolve_config(cfg_file, {"epochs": 7, "lr": None})
    assert cfg.method == "cot" and cfg.lr == 0.001  # from YAML (None on the command line = not given)
    assert cfg.epochs == 7  # command line wins
    assert cfg.max_latent_stage == 4  # hyphenated keys accepted
    assert cfg.batch_size == RunConfig().batch_size  # default


def test_yaml_unknown_key_suggests_the_right_one(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("task: prosqa\nlearning-rate: 0.1\nmax-latent-stag: 3\n")
    with pytest.raises(CocobenchError, match="unknown key 'learning-rate'"):
        resolve_config(cfg_file, {})
    cfg_file.write_text("task: prosqa\nmax-latent-stag: 3\n")
    with pytest.raises(CocobenchError, match="did you mean 'max-latent-stage'"):
        resolve_config(cfg_file, {})


def test_yaml_type_and_syntax_errors(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("task: prosqa\nepochs: many\n")
    with pytest.raises(CocobenchError, match="'epochs' must be int"):
        resolve_config(cfg_file, {})
    cfg_file.write_text("task: prosqa\nlr: 1e-4\nweight-decay: 5E-2\n")  # YAML 1.1 reads a number without a dot as text
    assert (resolve_config(cfg_file, {}).lr, resolve_config(cfg_file, {}).weight_decay) == (1e-4, 5e-2)
    cfg_file.write_text("task: prosqa\nlr: 1e-x\n")
    with pytest.raises(CocobenchError, match="'lr' must be float, got '1e-x'"):
        resolve_config(cfg_file, {})
    cfg_file.write_text("task: [prosqa\n")
    with pytest.raises(CocobenchError, match="malformed YAML"):
        resolve_config(cfg_file, {})
    with pytest.raises(CocobenchError, match="does not exist"):
        resolve_config(tmp_path / "missing.yaml", {})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"method": "cocnut"}, "did you mean 'coconut'"),
        ({"task": "prosqaa"}, "unknown task 'prosqaa'"),
        ({"c": 0}, "--c must be at least 1"),
        ({"k": -1}, "--k must be 0 or more thoughts"),
        ({"epochs": 0}, "--epochs must be a positive integer"),
        ({"uniform_prob": 1.5}, "--uniform-prob"),
        ({"reset_optimizer": "sometimes"}, "--reset-optimizer must be one of"),
        ({"latent_stop": "oracle"}, "--latent-stop must be one of"),
        ({"limit_train": -1}, "--limit-train"),
    ],
)
def test_invalid_values_are_rejected(overrides, message):
    with pytest.raises(CocobenchError, match=message):
        resolve_config(None, {"task": "prosqa", **overrides})


def test_k_may_exceed_the_thoughts_training_used():
    assert resolve_config(None, {"task": "prosqa", "k": 7}).thoughts == 7  # max_latent_stage*c = 6


def test_neither_task_nor_data_runs_the_papers_headline_task():
    assert resolve_config(None, {}).task == "prosqa"
    assert resolve_config(None, {"data": "d"}).task is None  # --data alone: the task is detected from it


def test_run_names_spell_out_the_options_that_differ_from_the_defaults():
    name = lambda **overrides: resolve_config(None, {"task": "prosqa", **overrides}).run_name()  # noqa: E731
    assert name() == "prosqa-coconut-seed0" and name(method="cot", seed=3) == "prosqa-cot-seed3"  # as before
    assert name(c=2) == "prosqa-coconut-c2-seed0" != name()
    assert name(c=2, k=8, pad_latent_to_max=False) == "prosqa-coconut-c2-no-pad-latent-to-max-k8-seed0"
    assert name(model="/models/meta-llama/Llama-3.2-1B") == "prosqa-coconut-modelLlama-3.2-1B-seed0"
    assert name(model="org/x y:z", lr=0.001) == "prosqa-coconut-modelx_y_z-lr0.001-seed0"
    assert name(quiet=True, eval_batch_size=8, precision="fp32", out=None) == "prosqa-coconut-seed0"  # how, not what
    many = name(epochs=3, lr=0.001, c=2, k=4)
    assert many.startswith("prosqa-coconut-epochs3-lr0.001-h") and many.endswith("-seed0") and len(many) < 60
    assert many != name(epochs=3, lr=0.001, c=2, k=5)


def test_options_exclude_paths_and_output_settings():
    cfg = resolve_config(None, {"task": "prosqa", "out": "x", "quiet": True, "c": 2})
    options = cfg.options()
    assert options["c"] == 2 and "out" not in options and "quiet" not in options and "seed" not in options
    assert cfg.thoughts == 12 and cfg.run_name() == "prosqa-coconut-c2-seed0"


HELP_COMMANDS = [("run",), ("eval",), ("suite",), ("gen", "prosqa"), ("gen", "prontoqa"), ("gen", "mult"), ("gen", "gsm")]


def flat_help(*path: str) -> str:
    """`--help` as one line of words: the table's borders gone, so a wrapped help cell reads straight through."""
    import re

    from typer.testing import CliRunner

    from cocobench.cli import app

    output = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


@pytest.mark.parametrize("path", HELP_COMMANDS, ids=" ".join)
def test_every_option_shows_its_default_in_help(path):
    """Every option's help ends with its default (a required one says [required]), rendered: rich reads a
    bare `[default: 50]` as markup and drops it, so the notes are escaped."""
    import click

    from tests.test_cli_options import commands

    shown = flat_help(*path)
    for param in commands()[path].params:
        if not isinstance(param, click.Option) or param.name == "help" or param.required:
            continue
        assert "\\[default: " in (param.help or ""), param.name
        assert param.help.replace("\\[", "[") in shown, param.name  # rendered whole, brackets and all


def test_run_has_one_option_per_setting_showing_the_settings_default():
    """`run`'s options are generated from the settings dataclasses: one per field (with the field's help
    and its default), plus --config and the output format; the settings a suite sets have none."""
    from dataclasses import fields

    from cocobench.cli.common import default_note
    from tests.test_cli_options import commands

    options = {p.name: p for p in commands()[("run",)].params if p.name != "help"}
    settings = {f.name: f for f in fields(RunConfig) if f.metadata["cli"]}
    assert set(options) == set(settings) | {"config", "output_format", "json_output"}
    assert {f.name for f in fields(RunConfig)} - set(settings) == {"warmup", "suite_stage"}
    for name, f in settings.items():
        assert options[name].opts[0] == "--" + name.replace("_", "-"), name
        note = f.metadata["note"] or default_note(f.default)
        assert options[name].help.endswith(f"\\[default: {note}]"), name
    assert "Training epochs. [default: 50]" in flat_help("run") and options["method"].help.endswith("[default: coconut]")


def test_eval_overrides_the_evaluation_settings_only():
    from cocobench.config import EVALUATION_FIELDS
    from tests.test_cli_options import commands

    options = {p.name for p in commands()[("eval",)].params} - {"help"}
    assert options == set(EVALUATION_FIELDS) | {"checkpoint", "data", "out", "overwrite", "quiet", "output_format", "json_output"}
    assert set(EVALUATION_FIELDS) == {"k", "max_new_tokens", "eval_batch_size", "limit_eval", "latent_stop", "max_thoughts", "precision"}
    assert "Thoughts at inference; more than training used is allowed (bounded by the model's context). [default: the run's]" in flat_help("eval")


def test_settings_keep_their_flat_names_order_and_groups():
    """RunConfig joins the groups by inheritance: flat access and YAML keys, in the order config.yaml and
    results.json have always had (the groups in SETTING_GROUPS order), each field in one group."""
    from dataclasses import fields

    from cocobench.config import SETTING_GROUPS, group_of

    by_group = [f.name for group in SETTING_GROUPS for f in fields(group)]
    assert [f.name for f in fields(RunConfig)] == by_group and len(set(by_group)) == len(by_group)
    assert by_group[:4] == ["task", "data", "method", "model"] and by_group[-2:] == ["precision", "fsdp"]
    assert group_of("lr").__name__ == "TrainingSettings" and group_of("c").__name__ == "CoconutSettings"
    assert list(RunConfig(lr=0.5).to_dict())[:3] == ["task", "data", "method"] and RunConfig(lr=0.5).lr == 0.5
