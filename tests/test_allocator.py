"""The C allocator setting the `cocobench` command starts with."""

from __future__ import annotations

import platform

import pytest
from typer.testing import CliRunner

import cocobench.cli
from cocobench.allocator import keep_freed_memory
from cocobench.cli import app


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's settings are glibc's")
def test_glibc_takes_the_settings(monkeypatch):
    monkeypatch.delenv("COCOBENCH_SYSTEM_MALLOC", raising=False)
    assert keep_freed_memory() is True


def test_the_opt_out_leaves_the_allocator_alone(monkeypatch):
    monkeypatch.setenv("COCOBENCH_SYSTEM_MALLOC", "1")
    assert keep_freed_memory() is False


def test_every_command_starts_with_it(monkeypatch):
    calls = []
    monkeypatch.setattr(cocobench.cli, "keep_freed_memory", lambda: calls.append(1))
    result = CliRunner().invoke(app, ["table", "--help"])
    assert result.exit_code == 0 and calls == [1]
