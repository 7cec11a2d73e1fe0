"""examples/ci/: the GitHub Actions workflow users copy parses, and every cocobench command in it
exists with the options it passes (a renamed option would break their CI silently otherwise)."""

import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from cocobench.cli import app

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "examples" / "ci" / "cocobench-regression.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps() -> list[dict]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def cocobench_commands() -> list[list[str]]:
    """Each `cocobench ...` line of the run steps, split as the shell would, the workflow's env expanded."""
    env = {name: str(value) for name, value in workflow()["env"].items()}
    commands = []
    for step in steps():
        for line in step.get("run", "").splitlines():
            line = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), line.split(">")[0].strip())
            if line.startswith("cocobench "):
                commands.append(shlex.split(line)[1:])
    return commands


def resolve(args: list[str]):
    """The click command `args` name (sub-apps followed) and the arguments left for it (Typer bundles
    its own click, so groups are told by their `commands`, not by class)."""
    command = typer.main.get_command(app)
    while hasattr(command, "commands"):
        command, args = command.commands[args[0]], args[1:]
    return command, args


def test_the_workflow_parses_and_has_the_steps_docs_ci_describes():
    flow = workflow()
    assert "pull_request" in flow[True]  # YAML 1.1 reads the key `on` as True
    names = [step.get("name") for step in steps()]
    assert names[-4:] == ["Install", "Run the smoke suite", "Compare with the baseline", "Keep the runs"]
    compare = next(step for step in steps() if step.get("name") == "Compare with the baseline")
    assert 'cat comparison.md >> "$GITHUB_STEP_SUMMARY"' in compare["run"] and "exit $status" in compare["run"]
    keep = steps()[-1]
    assert keep["if"] == "always()" and keep["uses"].startswith("actions/upload-artifact@") and "runs/smoke" in keep["with"]["path"]
    assert [c[0] for c in cocobench_commands()] == ["suite", "compare"]
    for name in ("SUITE", "BASELINE"):  # the pinned suite and its reference results are this repository's
        assert (REPO / flow["env"][name]).exists(), flow["env"][name]


@pytest.mark.parametrize("args", cocobench_commands(), ids=lambda args: args[0])
def test_every_cocobench_command_in_it_exists_with_its_options(args):
    command, rest = resolve(args)
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options = [arg for arg in rest if arg.startswith("-")]
    assert options and set(options) <= known, f"`cocobench {' '.join(args)}`: {set(options) - known} not options of it"
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    context = command.make_context(args[0], list(rest))  # click parses it as the shell would hand it over
    assert all(context.params[p.name] is not None for p in arguments)


def test_its_comparison_step_prints_markdown_and_passes_on_the_baseline_itself(monkeypatch):
    monkeypatch.chdir(REPO)
    compare = next(args for args in cocobench_commands() if args[0] == "compare")
    new = compare.index("runs/smoke")
    result = CliRunner().invoke(app, compare[:new] + [workflow()["env"]["BASELINE"]] + compare[new + 1:])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("### cocobench compare") and "| run | accuracy |" in result.stdout
