"""The run catalog: search over 100,000 runs on SQLite and PostgreSQL, upsert cost, and a
cold replica's first listing.

PostgreSQL is a real server (Debian's package, started like the tests do); the key/value
parameter table the catalog uses is measured next to a JSONB column with a GIN index, the
alternative the design weighed.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.common import Row, median, repeat
from benchmarks.server import running_server
from flowtime.adapters.catalog.sql import SqlRunCatalog
from flowtime.domain.runs import RunFilter, RunSummary

TEMPLATES = [f"template-{i}" for i in range(10)]


def summaries(count: int, seed: int = 7) -> Iterator[RunSummary]:
    rng = random.Random(seed)
    for i in range(count):
        day, second = divmod(i, 86_400)
        created = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{second // 3600:02d}:" \
                  f"{second // 60 % 60:02d}:{second % 60:02d}Z"
        tags = {"team": rng.choice(["ops", "data", "web"])} if i % 10 == 0 else {}
        yield RunSummary(
            f"run_{i:07d}", TEMPLATES[i % len(TEMPLATES)], "Bench", "1.0.0",
            "simulation" if i % 4 else "telemetry", created, int(i % 7 == 0),
            {"capacity": rng.randint(1, 100), "region": rng.choice(["eu", "us", "ap"]),
             "errorRate": round(rng.random() / 10, 3)}, tags,
            f"sweep_{i // 1000:04d}" if i % 2 else None)


@contextmanager
def _postgres() -> Iterator[object | None]:
    try:
        from tests.postgres import start_postgres
    except ImportError:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="flowtime-pg-bench-"))
    try:
        server = start_postgres(folder)
    except RuntimeError:
        yield None
        return
    try:
        yield server
    finally:
        server.stop()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _fill(catalog: SqlRunCatalog, count: int) -> None:
    batch: list[RunSummary] = []
    for summary in summaries(count):
        batch.append(summary)
        if len(batch) == 2000:
            catalog.upsert_many(batch)
            batch = []
    catalog.upsert_many(batch)
    catalog.mark_bootstrapped("2026-01-01T00:00:00Z")
    catalog._run(lambda conn: catalog._execute(conn, "ANALYZE"))


def _searches(catalog: SqlRunCatalog, label: str, count: int, times: int) -> list[Row]:
    cases = {
        "first page": RunFilter(),
        "template + tag": RunFilter(template_id="template-0", tags={"team": "ops"}),
        "parameter search": RunFilter(parameters={"capacity": "40"}),
    }
    rows = []
    for name, run_filter in cases.items():
        page = catalog.search(run_filter, 1, 50)
        samples = repeat(lambda f=run_filter: catalog.search(f, 1, 50), times, 3)
        rows.append(Row(f"catalog {label} {name} ({count:,} runs)", "p50 ms", median(samples),
                        None, "< 20 ms", median(samples) < 20,
                        note=f"{page.total_count:,} match"))
    n = [count]

    def one() -> None:
        n[0] += 1
        catalog.upsert(RunSummary(
            f"new_{n[0]:07d}", "template-1", "Bench", "1.0.0", "simulation",
            "2027-01-01T00:00:00Z", 0, {"capacity": 5}, {"team": "ops"}, None))

    upserts = repeat(one, times, 3)
    rows.append(Row(f"catalog {label} upsert one run", "p50 ms", median(upserts), None,
                    "< 2 ms", median(upserts) < 2))
    return rows


def _jsonb(catalog: SqlRunCatalog, count: int, times: int) -> Row:
    """The same parameter search through a JSONB column with a GIN index."""
    def setup(conn: object) -> None:
        catalog._execute(conn, "CREATE TABLE IF NOT EXISTS bench_jsonb (run_id VARCHAR(128) "
                         "PRIMARY KEY, parameters JSONB NOT NULL)")
        catalog._execute(conn, "INSERT INTO bench_jsonb SELECT run_id, parameters::jsonb FROM "
                         "runs ON CONFLICT DO NOTHING")
        catalog._execute(conn, "CREATE INDEX IF NOT EXISTS ix_bench_jsonb ON bench_jsonb "
                         "USING GIN (parameters jsonb_path_ops)")
        catalog._execute(conn, "ANALYZE bench_jsonb")

    catalog._run(setup)
    wanted = json.dumps({"capacity": 40})
    where = "run_id IN (SELECT run_id FROM bench_jsonb WHERE parameters @> ?::jsonb)"

    def search() -> None:
        catalog._run(lambda conn: (
            catalog._execute(conn, f"SELECT count(*) FROM runs WHERE {where}", (wanted,))
            .fetchone(),
            catalog._execute(conn, f"SELECT run_id FROM runs WHERE {where} ORDER BY created_utc "
                             "DESC, run_id DESC LIMIT 50", (wanted,)).fetchall()))

    samples = repeat(search, times, 3)
    return Row(f"catalog postgresql parameter search via JSONB ({count:,} runs)", "p50 ms",
               median(samples), None, "context", True,
               note="the alternative to the key/value table")


def _cold_replica(url: str, label: str, times: int) -> Row:
    """A replica started on an empty artifact store beside a full catalog: its first
    GET /v1/runs comes from the catalog alone, whatever the number of runs."""
    firsts = []
    for _ in range(times):
        with tempfile.TemporaryDirectory() as folder:
            env = {"FLOWTIME_DATA_DIR": folder, "FLOWTIME_CATALOG": url}
            with running_server(env) as base:
                start = time.perf_counter()
                response = httpx.get(f"{base}/v1/runs", timeout=30)
                firsts.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200 and response.json()["items"]
    return Row(f"cold replica first GET /v1/runs ({label})", "ms (median of starts)",
               median(firsts), None, "< 200 ms", median(firsts) < 200)


def run(quick: bool = False) -> list[Row]:
    count, times, starts = (2_000, 10, 1) if quick else (100_000, 40, 3)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'catalog.sqlite'}"
        catalog = SqlRunCatalog(url)
        _fill(catalog, count)
        rows += _searches(catalog, "sqlite", count, times)
        catalog.close()
        rows.append(_cold_replica(url, "sqlite", starts))
    with _postgres() as server:
        if server is None:
            rows.append(Row("catalog postgresql", "skipped", 0, None, "PostgreSQL installed",
                            quick, note="initdb not found: apt-get install postgresql"))
            return rows
        url = server.new_database()  # type: ignore[attr-defined]
        catalog = SqlRunCatalog(url)
        _fill(catalog, count)
        rows += _searches(catalog, "postgresql", count, times)
        rows.append(_jsonb(catalog, count, times))
        catalog.close()
        rows.append(_cold_replica(url, "postgresql", starts))
    return rows
