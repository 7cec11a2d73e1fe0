"""Task registry: every task is one module that defines a `TASK`; add it to `_MODULES`."""

from __future__ import annotations

import importlib

from cocobench.errors import unknown_name
from cocobench.examples import Example
from cocobench.tasks.base import Task

_MODULES = {"prosqa": "prosqa", "prosqa-symbolic": "prosqa_symbolic", "prontoqa": "prontoqa", "mult": "mult", "gsm": "gsm"}


def task_names() -> list[str]:
    return list(_MODULES)


def get_task(name: str) -> Task:
    if name not in _MODULES:
        raise unknown_name("task", name, _MODULES)
    return importlib.import_module(f"cocobench.tasks.{_MODULES[name]}").TASK


def detect_task(example: Example) -> Task | None:
    for name in _MODULES:
        task = get_task(name)
        if task.recognizes(example):
            return task
    return None
