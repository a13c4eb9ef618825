"""Feedback loops at machine speed with numba (the `fast` extra), when it pays.

The loop body is the same Python source the compiled-Python path runs (`scalar.py`: the
same expressions, the same helper semantics), placed in a small module that numba compiles
with `cache=True`. Modules live in a user cache folder (FLOWTIME_CACHE_DIR, else
$XDG_CACHE_HOME/flowtime, else ~/.cache/flowtime), named by the SHA-256 of their source and
written atomically (temporary file + rename), so concurrent writers agree and a second
process loads the machine code numba cached beside them instead of compiling again.

numba was picked over hand-written C or Cython because it compiles exactly the Python we
already generate, needs no compiler on the machine and caches across processes. IEEE
arithmetic is kept (no fastmath), so results are bit-identical to the Python path
(`tests/unit/test_evaluators_agree.py` checks all three evaluators).

When it pays — chosen by predicted cost, not by size (`wanted`; the constants were measured
on this machine, benchmarks/README.md "Evaluator choice"): the column programs cost about
COLUMNS_NS per member-bin; numba about NUMBA_NS, plus a one-off price per process —
importing numba (IMPORT_S) and its first cached load (FIRST_LOAD_S, LLVM and the type system
waking up) — and GROUP_LOAD_S for each loop group. So a one-off CLI run uses numba only
when its feedback loops hold some 18 M member-bins in groups of at least ~4 k each; a
server, which pays the one-off price in the background at start (`warm`), uses it for any
group of ~4 k member-bins or more. FLOWTIME_JIT_MIN=N
forces a plain threshold (tests); FLOWTIME_JIT=0 disables numba; when numba is missing or
broken the compiled-Python path runs instead.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

# measured (benchmarks/README.md, "Evaluator choice"): seconds, and nanoseconds per member-bin
COLUMNS_NS = 90.0
NUMBA_NS = 7.0
IMPORT_S = 0.70
FIRST_LOAD_S = 0.90
GROUP_LOAD_S = 0.0003  # loading one more group's cached machine code

HELPERS = '''
import math
import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _div(a, b):
    return a / b if b != 0 else 0.0


@njit(cache=True, inline="always")
def _mod(a, b):
    if b == 0:
        return 0.0
    if a != a or b != b or math.isinf(a):
        return math.nan
    return a % abs(b)


@njit(cache=True, inline="always")
def _floor(x):
    return np.floor(x)


@njit(cache=True, inline="always")
def _ceil(x):
    return np.ceil(x)


@njit(cache=True, inline="always")
def _round(x):
    if not math.isfinite(x):
        return x
    whole = np.trunc(x)
    if abs(x - whole) >= 0.5:
        whole += math.copysign(1.0, x)
    return whole


@njit(cache=True, inline="always")
def _abs(x):
    return abs(x)


@njit(cache=True, inline="always")
def _min2(x, y):
    return x if x <= y else (y if y <= x else x + y)


@njit(cache=True, inline="always")
def _max2(x, y):
    return x if x >= y else (y if y >= x else x + y)


@njit(cache=True, inline="always")
def _safe(x, fallback):
    return x if x - x == 0 else fallback
'''

_lock = threading.Lock()
_loaded: dict[str, Callable[..., Any]] = {}
_available: bool | None = None


def cache_dir() -> Path:
    explicit = os.environ.get("FLOWTIME_CACHE_DIR")
    if explicit:
        return Path(explicit) / "jit"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flowtime" / "jit"


def wanted(group_work: int, total_work: int) -> bool:
    """Use numba for a loop group of `group_work` member-bins in a model whose loops hold
    `total_work` — when its predicted cost is below the column programs'."""
    global _available
    if os.environ.get("FLOWTIME_JIT", "1").lower() in ("0", "false", "no"):
        return False
    forced = os.environ.get("FLOWTIME_JIT_MIN")
    if forced is not None and forced.strip().isdigit():
        if total_work < int(forced):
            return False
    elif not pays(group_work, total_work, "numba" in sys.modules, bool(_loaded)):
        return False
    if _available is None:
        _available = importlib.util.find_spec("numba") is not None
    return _available


def pays(group_work: int, total_work: int, imported: bool, warmed: bool) -> bool:
    """numba's predicted cost below the column programs' for this group? Once numba has
    loaded a group in this process only the group's own load is extra; before that, the
    one-off price is weighed against the whole model's loops."""
    saving = (COLUMNS_NS - NUMBA_NS) * 1e-9
    if group_work * saving <= GROUP_LOAD_S:
        return False  # a small group: loading its module costs more than it saves
    if warmed:
        return True
    overhead = FIRST_LOAD_S + (0.0 if imported else IMPORT_S)
    return total_work * saving > overhead


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def compiled(source: str) -> Callable[..., Any]:
    """The njit-compiled `_group` of a generated module source (cached in memory and on
    disk)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:32]
    with _lock:
        found = _loaded.get(digest)
        if found is not None:
            return found
        path = cache_dir() / f"group_{digest}.py"
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            _write_atomic(path, source)
        name = f"flowtime_jit_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        function = module._group
        _loaded[digest] = function
        return function


def module_source(signature: str, body: list[str]) -> str:
    """A module holding the helpers and the jitted group function."""
    return HELPERS + "\n\n@njit(cache=True)\n" + signature + "\n" + "\n".join(body) + "\n"


def warm() -> None:
    """A long-lived process (the server) pays numba's one-off price in the background —
    the import and a first cached load, by running a one-line group — so loops of any real
    size use it without a request paying."""
    if os.environ.get("FLOWTIME_JIT", "1").lower() in ("0", "false", "no"):
        return
    if importlib.util.find_spec("numba") is None:
        return

    def run() -> None:
        try:
            import numpy as np

            probe = compiled(module_source("def _group(x):", ["    return x[0] + 1.0"]))
            probe(np.zeros(1))
        except Exception:  # warming is best effort; the loops fall back to columns
            pass

    threading.Thread(target=run, name="numba-warm", daemon=True).start()
