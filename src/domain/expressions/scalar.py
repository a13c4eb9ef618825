"""Bin-by-bin evaluation of feedback groups, compiled to a tight Python loop.

Nodes on a delayed feedback loop (e.g. a queue's backlog) depend on their own past, so
they cannot be computed as whole arrays. Each group is turned into Python source once:
a loop over bins writing into preallocated lists. Sub-expressions that do not touch the
group are evaluated vectorised beforehand and indexed, so only the loop's own arithmetic
runs per bin. Generated code only contains numbers, fixed helper names and local
variable names we choose; node ids never appear in it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import msgspec
import numpy as np

from flowtime.domain.expressions import jit
from flowtime.domain.expressions.ast import BinOp, Call, Expr, Neg, Num, Ref, references
from flowtime.domain.expressions.columns import ColumnProgram, compile_columns
from flowtime.domain.expressions.functions import FUNCTIONS, LOOP_HELPERS
from flowtime.domain.expressions.vector import as_series


def literal(value: float) -> str:
    """Python source for a float, ±inf and NaN included (the flow compiler builds them)."""
    return repr(value) if math.isfinite(value) else f"float({str(value)!r})"


class LoopCompiler:
    def __init__(
        self,
        members: list[str],
        initial: Mapping[str, float],
        hoist: Callable[[Expr], np.ndarray | float],
        bins: int,
        functional: bool = False,
    ):
        self.bins = bins
        self.functional = functional  # helper calls instead of `:=` (for numba)
        self.slot = {name: f"m{i}" for i, name in enumerate(members)}
        self.initial = initial
        self.hoist = hoist
        self.hoisted: list[np.ndarray] = []
        self.loads: dict[str, str] = {}  # local name -> expression loaded once per bin
        # Lists are padded in front by the largest SHIFT lag, pre-filled with each member's
        # initial value, so the loop body reads `m[i - k]` with no bounds test.
        self.pad = 0
        self._temps = 0
        self._hoisted_at: dict[Expr, int] = {}

    def temp(self) -> str:
        """A fresh local name for a value the generated code must not compute twice."""
        self._temps += 1
        return f"t_{self._temps}"

    def uses_group(self, node: Expr) -> bool:
        return any(r.name in self.slot for r in references(node))

    def emit(self, node: Expr) -> str:
        if isinstance(node, Num):
            return literal(node.value)
        if not self.uses_group(node):
            known = self._hoisted_at.get(node)
            if known is not None:  # the same sub-expression again: one array, one load
                return f"a{known}"
            value = self.hoist(node)
            if not isinstance(value, np.ndarray):
                return literal(float(value))
            self.hoisted.append(value)
            k = len(self.hoisted) - 1
            self._hoisted_at[node] = k
            # numba gets the hoisted arrays unpadded (no copy per evaluation)
            self.loads[f"a{k}"] = f"h{k}[i - __pad__]" if self.functional else f"h{k}[i]"
            return f"a{k}"
        if isinstance(node, Ref):
            return "v" + self.slot[node.name][1:]  # computed earlier in this bin
        if isinstance(node, Neg):
            return f"(-{self.emit(node.operand)})"
        if isinstance(node, BinOp):
            left, right = self.emit(node.left), self.emit(node.right)
            return f"_div({left}, {right})" if node.op == "/" else f"({left} {node.op} {right})"
        assert isinstance(node, Call)
        return self.call(node)

    def past(self, ref: Ref, lag: int) -> str:
        """Value `lag` bins ago; the padding supplies the initial condition."""
        if not lag:
            return self.emit(ref)
        if lag >= self.bins:  # always before the grid: the initial value (no giant padding)
            return literal(float(self.initial.get(ref.name, 0.0)))
        self.pad = max(self.pad, lag)
        slot = self.slot[ref.name]
        name = f"p{slot[1:]}_{lag}"
        # Lag 1 is the member's value from the previous bin, still in its local.
        self.loads[name] = f"v{slot[1:]}" if lag == 1 else f"{slot}[i - {lag}]"
        return name

    def past_or_zero(self, ref: Ref, lag: int) -> str:
        """Value `lag` bins ago, 0 before the grid starts (CONV ignores initial values)."""
        if not lag:
            return self.emit(ref)
        return f"({self.slot[ref.name]}[i - {lag}] if t >= {lag} else 0.0)"

    def call(self, node: Call) -> str:
        return FUNCTIONS[node.name].loop(node, self)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Callable[..., tuple[list[float], ...]]:
    """Compile generated source once; groups of the same shape share the function."""
    namespace: dict[str, object] = dict(LOOP_HELPERS)
    exec(compile(source, "<feedback-group>", "exec"), namespace)
    return namespace["_group"]  # type: ignore[return-value]


class PreparedLoop(msgspec.Struct, frozen=True):
    """A feedback group turned into a function once: what to hoist each evaluation (the
    sub-expressions that do not touch the group) and how to call it."""

    function: Callable[..., Any]
    hoisted: tuple[Expr, ...]
    pad: int
    jit: bool


# Prepared loops by group shape, least recently used first out. Large enough for a model of
# thousands of queues (each its own group): clearing it mid-model made every evaluation
# prepare every loop again.
_prepared: OrderedDict[tuple[Any, ...], PreparedLoop] = OrderedDict()
_prepared_lock = threading.Lock()
MAX_PREPARED = 16384


def evaluate_feedback_group(
    members: list[str],
    asts: Mapping[str, Expr],
    bins: int,
    initial: Mapping[str, float],
    hoist: Callable[[Expr], np.ndarray | float],
    total_work: int = 0,
) -> dict[str, np.ndarray]:
    """Evaluate `members` (in instantaneous-dependency order) bin by bin. `total_work`:
    member-bins in all the model's feedback groups (decides whether numba pays)."""
    initials = [float(initial.get(m, 0.0)) for m in members]
    use_jit = jit.wanted(bins * len(members), total_work)
    key = (tuple(members), tuple(asts[m] for m in members), bins, use_jit, tuple(initials))
    with _prepared_lock:
        loop = _prepared.get(key)
        if loop is not None:
            _prepared.move_to_end(key)
    if loop is None:
        loop = _prepare(members, asts, bins, initial, use_jit)
        with _prepared_lock:
            _prepared[key] = loop
            while len(_prepared) > MAX_PREPARED:
                _prepared.popitem(last=False)
    values = [_series(hoist(e), bins) for e in loop.hoisted]
    rows = max((v.shape[0] for v in values if v.ndim == 2), default=0)
    if rows:  # a batch of samples (batch.py)
        if not loop.jit and rows >= COLUMN_MIN_ROWS:
            program = _column_program(key, members, asts, bins, initial, loop.hoisted)
            if program is not None:  # once over bins, all samples per numpy call
                return program.run(values, initials, bins, rows)
        return _run_rows(loop, members, bins, initials, values, rows)
    return _run_loop(loop, members, bins, initials, values)


# From this many samples, a batch runs its loops as column programs (columns.py): below it,
# the per-sample loop's Python steps cost less than a numpy call per operation and bin.
COLUMN_MIN_ROWS = 24
_columns: OrderedDict[tuple[Any, ...], ColumnProgram | None] = OrderedDict()


def _column_program(key: tuple[Any, ...], members: list[str], asts: Mapping[str, Expr],
                    bins: int, initial: Mapping[str, float], hoisted: tuple[Expr, ...]
                    ) -> ColumnProgram | None:
    with _prepared_lock:
        if key in _columns:
            _columns.move_to_end(key)
            return _columns[key]
    program = compile_columns(members, asts, bins, initial, hoisted)
    with _prepared_lock:
        _columns[key] = program
        while len(_columns) > MAX_PREPARED:
            _columns.popitem(last=False)
    return program


def _run_rows(loop: PreparedLoop, members: list[str], bins: int, initials: list[float],
              values: list[np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The loop once per sample row; inputs converted once for the whole batch."""
    if loop.jit:
        per_row = [_run_loop(loop, members, bins, initials,
                             [v[r] if v.ndim == 2 else v for v in values])
                   for r in range(rows)]
        return {m: np.stack([found[m] for found in per_row]) for m in members}
    pad = [0.0] * loop.pad
    shared = [None if v.ndim == 2 else pad + v.tolist() for v in values]
    batched = [v.tolist() if v.ndim == 2 else None for v in values]
    collected: list[list[list[float]]] = [[] for _ in members]
    function = loop.function
    for r in range(rows):
        args = [pad + b[r] if b is not None else s for b, s in zip(batched, shared,
                                                                    strict=True)]
        for out, result in zip(collected, function(bins, initials, *args), strict=True):
            out.append(result)
    return {m: np.array(out, dtype=np.float64) for m, out in zip(members, collected,
                                                                  strict=True)}


def _run_loop(loop: PreparedLoop, members: list[str], bins: int, initials: list[float],
              values: list[np.ndarray]) -> dict[str, np.ndarray]:
    if loop.jit:
        results = loop.function(bins, np.asarray(initials, dtype=np.float64), *values)
        return dict(zip(members, results, strict=True))
    lists = [[0.0] * loop.pad + v.tolist() for v in values]
    results = loop.function(bins, initials, *lists)
    return {m: np.asarray(r, dtype=np.float64) for m, r in zip(members, results, strict=True)}


def _series(value: np.ndarray | float, bins: int) -> np.ndarray:
    """A hoisted value as a float64 array (read-only use: no copy when it already is one)."""
    if (isinstance(value, np.ndarray) and value.ndim in (1, 2) and value.shape[-1] == bins
            and value.dtype == np.float64):
        return value  # one row, or samples × bins in a batch (batch.py)
    return as_series(value, bins)


def _prepare(members: list[str], asts: Mapping[str, Expr], bins: int,
             initial: Mapping[str, float], use_jit: bool) -> PreparedLoop:
    if use_jit:
        try:
            return _prepare_jit(members, asts, bins, initial)
        except Exception:
            pass
    compiler, loop, hoisted = _loop(members, asts, bins, initial, functional=False)
    pad = compiler.pad
    slots = [compiler.slot[m] for m in members]
    helpers = ", ".join(f"{name}={name}" for name in LOOP_HELPERS)  # bound as fast locals
    lines = [
        f"def _group(bins, initials{_hoisted(hoisted)}, {helpers}):",
        *[f"    {slot} = [initials[{k}]] * {pad} + [0.0] * bins" for k, slot in enumerate(slots)],
        *[f"    v{slot[1:]} = initials[{k}]" for k, slot in enumerate(slots)],
        *loop,
    ]
    return PreparedLoop(_compiled("\n".join(lines)), hoisted, pad, False)


def _hoisted(hoisted: tuple[Expr, ...]) -> str:
    return "".join(f", h{k}" for k in range(len(hoisted)))


def _loop(members: list[str], asts: Mapping[str, Expr], bins: int,
          initial: Mapping[str, float], functional: bool
          ) -> tuple[LoopCompiler, list[str], tuple[Expr, ...]]:
    """The loop's source lines (from `for` to `return`) and the sub-expressions to hoist.
    `functional`: MIN/MAX/SAFE as helper calls instead of inline `:=` expressions (numba
    cannot type those)."""
    recorded: list[Expr] = []

    def record(expr: Expr) -> np.ndarray:
        recorded.append(expr)
        return np.empty(0)  # an array: the loop reads it per bin, whatever its values

    compiler = LoopCompiler(members, initial, record, bins, functional)
    body: list[str] = []
    for m in members:
        slot = compiler.slot[m]
        body.append(f"        v{slot[1:]} = {compiler.emit(asts[m])}")
        body.append(f"        {slot}[i] = v{slot[1:]}")
    body = [f"        {name} = {expr}" for name, expr in compiler.loads.items()] + body
    pad = compiler.pad
    slots = [compiler.slot[m] for m in members]
    needs_t = any("t >=" in line for line in body)
    return compiler, [f"    for i in range({pad}, {pad} + bins):",
                      *([f"        t = i - {pad}"] if needs_t else []),
                      *body,
                      "    return (" + "".join(f"{slot}[{pad}:], " for slot in slots) + ")"], \
        tuple(recorded)


_NUMBA_LITERALS = {"float('inf')": "math.inf", "float('-inf')": "(-math.inf)",
                   "float('nan')": "math.nan"}


def _prepare_jit(members: list[str], asts: Mapping[str, Expr], bins: int,
                 initial: Mapping[str, float]) -> PreparedLoop:
    """The same loop over numpy arrays, compiled by numba (see `jit.py`)."""
    compiler, loop, hoisted = _loop(members, asts, bins, initial, functional=True)
    pad = compiler.pad
    slots = [compiler.slot[m] for m in members]
    body = [
        *[f"    {slot} = np.empty({pad} + bins)\n    {slot}[:{pad}] = initials[{k}]"
          for k, slot in enumerate(slots)],
        *[f"    v{slot[1:]} = initials[{k}]" for k, slot in enumerate(slots)],
        *loop,
    ]
    text = "\n".join(body).replace("__pad__", str(pad))
    for python, numba_form in _NUMBA_LITERALS.items():
        text = text.replace(python, numba_form)
    function = jit.compiled(jit.module_source(
        f"def _group(bins, initials{_hoisted(hoisted)}):", text.split("\n")))
    # compile (or load from the disk cache) now, so a failure falls back to Python here
    probe = [np.zeros(bins) for _ in hoisted]
    function(bins, np.zeros(len(members)), *probe)
    return PreparedLoop(function, hoisted, pad, True)
