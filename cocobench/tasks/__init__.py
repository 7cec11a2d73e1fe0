"""Task registry: every task is one module that defines a `TASK`; add it to `_MODULES`.

`_MODULES` is the one list of tasks: `run --task`'s choices, `data check`'s detection, `gen`'s commands
(the tasks whose `TASK.generator` is set) and `cocobench table`'s columns (in `TASK.table_column` order)
all derive from it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cocobench.errors import unknown_name
from cocobench.examples import Example
from cocobench.tasks.base import Task

# task name -> module; the order is `gen`'s commands' and the order in which `detect_task` asks
_MODULES = {"prosqa": "prosqa", "prosqa-symbolic": "prosqa_symbolic", "prontoqa": "prontoqa", "mult": "mult", "gsm": "gsm"}


def task_names() -> list[str]:
    return list(_MODULES)


def task_module(name: str) -> ModuleType:
    """The module that defines the task `name` (its generator's constants and functions)."""
    if name not in _MODULES:
        raise unknown_name("task", name, _MODULES)
    return importlib.import_module(f"cocobench.tasks.{_MODULES[name]}")


def get_task(name: str) -> Task:
    return task_module(name).TASK


def detect_task(example: Example) -> Task | None:
    for name in _MODULES:
        task = get_task(name)
        if task.recognizes(example):
            return task
    return None


def generator_names() -> list[str]:
    """The tasks `cocobench gen` has a command for, in registry order."""
    return [name for name in _MODULES if get_task(name).generator is not None]


def get_generator(name: str) -> type:
    """The settings dataclass of `cocobench gen NAME` (see cocobench/tasks/generator.py)."""
    names = generator_names()
    if name not in names:
        raise unknown_name("task to generate", name, names)
    return get_task(name).generator
