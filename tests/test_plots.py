"""PNG figures (matplotlib, an optional extra) and the analyses without matplotlib."""

import builtins
import json

import pytest
from typer.testing import CliRunner

from cocobench.analysis import plots
from cocobench.cli import app
from tests.test_analysis_paths import runs  # noqa: F401  (fixture)
from tests.helpers import make_results, write_run

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def analyze(*args):
    return CliRunner().invoke(app, ["analyze", *map(str, args)])


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Imports of matplotlib fail, as where it is not installed (even if this process imported it already)."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.fixture
def matplotlib_installed():
    pytest.importorskip("matplotlib", reason="matplotlib not installed: pip install 'cocobench[plot]' to test the PNGs")


def assert_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_HEADER) and len(data) > 1000
    from PIL import Image  # matplotlib depends on pillow

    with Image.open(path) as image:
        image.verify()
        assert image.size[0] > 100 and image.size[1] > 100


def test_line_and_stacked_panels_save_a_png(matplotlib_installed, tmp_path):
    """The k-sweep figure of the paper: accuracy vs k on the left, stacked shares vs k on the right."""
    fig, (left, right) = plots.figure(2, title="k-sweep")
    plots.line_plot(left, [0, 1, 2], {"coconut": [80.0, 90.0, None], "cot": [70.0, 70.0, 70.0]}, title="accuracy", xlabel="k", ylabel="accuracy %",
                    point_labels={"coconut": ["k=0", "k=1"]})  # fmt: skip
    plots.stacked_bars(right, ["0", "1", "2"], {"Correct Path": [50, 60, 70], "Hallucination": [50, 40, 30]}, colors=["green", "red"],
                       title="categories", xlabel="k", ylabel="%")  # fmt: skip
    path = plots.save_png(fig, tmp_path / "deep" / "ksweep.png")
    assert_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["ksweep.png"]  # no temporary file left behind
    assert left.get_title() == "accuracy" and right.get_xlabel() == "k" and fig.get_suptitle() == "k-sweep"
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["coconut", "cot"]


@pytest.mark.slow
def test_the_commands_write_pngs(matplotlib_installed, runs, tmp_path):  # noqa: F811
    assert analyze("paths", runs / "suite", "--out", tmp_path / "out", "-q").exit_code == 0
    assert_png(tmp_path / "out" / "paths.png")
    write_run(tmp_path / "curve", make_results(method="cot"))
    write_run(tmp_path / "curve", make_results(method="coconut", tokens=9.0))
    assert analyze("curve", tmp_path / "curve", "--out", tmp_path / "out", "-q").exit_code == 0
    assert_png(tmp_path / "out" / "curve.png")


def test_without_matplotlib_the_commands_write_the_numbers_and_say_how_to_get_plots(no_matplotlib, runs, tmp_path):  # noqa: F811
    assert not plots.available()
    with pytest.raises(plots.PlotsUnavailable, match="cocobench\\[plot\\]"):
        plots.figure()
    result = analyze("paths", runs / "suite", "--out", tmp_path / "out", "--format", "json")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["paths.csv", "paths.json"]
    assert json.loads((tmp_path / "out" / "paths.json").read_text()) == json.loads(result.stdout)
    hints = [line for line in result.stderr.splitlines() if "pip install 'cocobench[plot]'" in line]
    assert len(hints) == 1 and "paths.png" in hints[0]
    write_run(tmp_path / "curve", make_results(method="cot"))
    result = analyze("curve", tmp_path / "curve", "--out", tmp_path / "out")
    assert result.exit_code == 0 and (tmp_path / "out" / "curve.csv").is_file() and not (tmp_path / "out" / "curve.png").exists()
    assert "pip install 'cocobench[plot]'" in result.stderr
    quiet = analyze("curve", tmp_path / "curve", "--out", tmp_path / "out", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
