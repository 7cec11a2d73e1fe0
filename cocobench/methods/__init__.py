"""Method registry: each method family is one module defining `METHODS`; add each name to `_MODULES`.

A method turns an example into training token ids + loss mask (per curriculum stage) and an inference
prompt (docs/methods.md has every method's); see `cocobench.methods.base` for the interface.
"""

from __future__ import annotations

import importlib

from cocobench.errors import unknown_name
from cocobench.methods.base import Method, TrainSequence

# method name -> module, in the order of `cocobench table`'s rows: the paper's Table 1, then the extra controls, then CODI (a later method)
_MODULES = {
    "cot": "cot",
    "no-cot": "cot",
    "icot": "icot",
    "pause": "pause",
    "coconut": "coconut",
    "coconut-no-curriculum": "coconut",
    "coconut-no-thought": "coconut_controls",
    "pause-as-thought": "coconut_controls",
    "pause-multipass": "coconut_controls",
    "codi": "codi",
    "codi-no-distill": "codi",
    "codi-no-projection": "codi",
    "codi-keep-last-step": "codi",
}


def method_names() -> list[str]:
    return list(_MODULES)


def method_class(name: str) -> type[Method]:
    if name not in _MODULES:
        raise unknown_name("method", name, _MODULES)
    module = importlib.import_module(f"cocobench.methods.{_MODULES[name]}")
    return next(cls for cls in module.METHODS if cls.name == name)


def get_method(name: str, cfg, tokenizer) -> Method:
    """The method `name`, set up for the run settings `cfg` (a RunConfig or anything with its fields)."""
    return method_class(name)(cfg, tokenizer)


__all__ = ["Method", "TrainSequence", "get_method", "method_class", "method_names"]
