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

When it pays: importing numba costs ~0.35 s once per process, so a model uses it when its
feedback loops hold at least FLOWTIME_JIT_MIN member-bins in all (default 500,000, about
30 queues × 8,760 bins), or when numba is already loaded in this process (a server, a
sweep worker) and the group holds at least 5,000. When numba is missing, broken or
disabled (FLOWTIME_JIT=0), the compiled-Python path runs instead.
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

DEFAULT_MIN_WORK = 500_000
LOADED_MIN_WORK = 5_000

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
    """Use numba for a group of `group_work` member-bins in a model with `total_work`?"""
    global _available
    if os.environ.get("FLOWTIME_JIT", "1").lower() in ("0", "false", "no"):
        return False
    try:
        threshold = int(os.environ.get("FLOWTIME_JIT_MIN", DEFAULT_MIN_WORK))
    except ValueError:
        threshold = DEFAULT_MIN_WORK
    loaded = "numba" in sys.modules
    if total_work < threshold and not (loaded and group_work >= min(threshold,
                                                                       LOADED_MIN_WORK)):
        return False
    if _available is None:
        _available = importlib.util.find_spec("numba") is not None
    return _available


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
    """A long-lived process (the server) imports numba in the background, so mid-sized
    loops use it without any request paying the import."""
    if os.environ.get("FLOWTIME_JIT", "1").lower() in ("0", "false", "no"):
        return
    if importlib.util.find_spec("numba") is None:
        return
    threading.Thread(target=importlib.import_module, args=("numba",), name="numba-import",
                     daemon=True).start()
