"""The shape of the code (issue 34): no import circle in `src` (lazy imports count), and the
domain imports no framework and no adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_import_cycles():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_the_cycle_finder_finds_a_cycle():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import import_cycles
    finally:
        sys.path.pop(0)
    found = import_cycles.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert found == [["a", "b", "c"]]


FRAMEWORKS = {"litestar", "click", "rich", "uvicorn", "httpx", "boto3", "sqlalchemy",
              "alembic", "psycopg", "opentelemetry", "dask", "distributed", "pyarrow",
              "pandas"}


def test_the_domain_imports_no_framework_or_adapter():
    offenders = []
    for path in (ROOT / "src" / "domain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                if top in FRAMEWORKS or name.startswith(("flowtime.adapters",
                                                          "flowtime.container")):
                    offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
