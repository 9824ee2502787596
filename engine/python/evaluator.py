"""CheckedRuleset → Program: the evaluator a Ruleset classifies with.

`run` is the fast path (about a microsecond a decision) and `trace` the
reference run that records every leaf's result and value; both are generated
by `engine/python/codegen.py`, from the same walk over the rules. `make_decision`
is passed in, so that this stage builds the top-level `Decision` without
importing it (imports point down the pipeline).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from engine.checker.model import CheckedRuleset
from engine.python.codegen import Division, Module, Trace, run_function, trace_function
from engine.python.leaves import Leaf, value_formatters


@dataclass(frozen=True)
class Program:
    checked: CheckedRuleset
    run: Callable[[Mapping[str, Any]], Any]  # account -> Decision (via make_decision)
    leaves: tuple[Leaf, ...]
    divisions: tuple[Division, ...]
    source_code: str  # the generated Python of `run`, for the curious and for tests
    formatters: dict[str, Callable[[Any], str]]  # name -> how explanations show its value

    @cached_property
    def trace(self) -> Callable[[Mapping[str, Any]], Trace]:
        """account -> full trace. Compiled on first use: only the reference renderings
        (`Decision.steps()`) read it, and compiling it doubled the time and memory of
        loading a big ruleset."""
        module = Module(self.checked)
        _code, (trace,) = module.build([trace_function(module)])
        return trace


def compile_program(
    checked: CheckedRuleset, make_decision: Callable[..., Any], owner: object
) -> Program:
    """`make_decision(owner, rule, labels, account)` builds what `run` returns."""
    module = Module(checked)  # it numbers the divisions as every other function's does
    code, (run,) = module.build([run_function(module, make_decision, owner)])
    formatters = value_formatters(checked)
    return Program(checked, run, module.leaves, module.divisions, code, formatters)
