"""The run catalog on SQL: SQLite (the embedded default) and PostgreSQL, one implementation.

Queries go through the DB-API drivers directly (sqlite3 from the standard library, psycopg 3
for PostgreSQL) rather than SQLAlchemy Core: importing SQLAlchemy costs ~160 ms, and the
catalog is touched by every CLI command that publishes or lists runs (those commands aim for
a few hundred ms in all). The SQL is portable (ON CONFLICT upserts, row-value comparisons,
no dialect-only types), so the dialects differ only in placeholders, connection set-up,
transactions and the migration lock. Schema changes are Alembic migrations (schema.py).

URLs: `sqlite:///relative/path.sqlite`, `sqlite:////absolute/path.sqlite`, `sqlite://`
(in memory, one per catalog object), `postgresql://user:password@host:port/database`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flowtime.adapters.catalog import schema
from flowtime.adapters.stores import faults
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, invalid
from flowtime.domain.runs import (
    SORTS,
    RunFilter,
    RunPage,
    RunSummary,
    parameter_key,
    query_number,
    sort_key,
)

COLUMNS = ("run_id", "template_id", "template_title", "template_version", "mode",
           "created_utc", "warning_count", "sweep_id", "parameters", "tags", "base_run_id")
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM runs"
_UPSERT = (f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
           "ON CONFLICT (run_id) DO UPDATE SET "
           + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:]))
_ADD_MEMBER = ("INSERT INTO sweep_runs (sweep_id, run_id) VALUES (?, ?) "
               "ON CONFLICT (sweep_id, run_id) DO NOTHING")
POOL_SIZE = 8
# SQLite's page cache per connection, in KiB (PRAGMA cache_size takes a negative number
# as KiB). Its default, 2 MiB, times POOL_SIZE idle connections per worker filled over
# a soak as the catalog grew: +40 MB in the first five minutes of `make soak` (issue 42).
# The operating system caches the file's pages anyway; 512 KiB keeps a pool under 4 MiB.
SQLITE_CACHE_KIB = 512
log = logging.getLogger("flowtime.catalog")


class _Dialect:
    name = ""
    errors: tuple[type[BaseException], ...] = ()
    # one row when the version table exists (a failed query would abort a PG transaction)
    has_version_table = ""
    # how a run is tested against a parameter subquery; PostgreSQL's planner walks the newest
    # runs probing each unless the subquery is computed first (measured on 100,000 runs:
    # 35 ms → 6.5 ms for a 1 % match; benchmarks/catalog.py). Tag filters, usually broader,
    # keep IN (a tag on 3 % of the runs: 5 ms with IN, 14 ms computed first).
    member = "run_id IN ({})"

    def connect(self) -> Any: ...

    def sql(self, text: str) -> str:
        return text

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        yield

    @contextmanager
    def migration_lock(self, conn: Any) -> Iterator[None]:
        yield

    def sqlalchemy_url(self) -> str: ...


class _SQLite(_Dialect):
    name = "sqlite"
    has_version_table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"

    def __init__(self, path: str | None):
        import sqlite3

        self.errors = (sqlite3.Error,)
        self.memory = path is None
        if path is None:
            self.target = f"file:flowtime-catalog-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self.anchor = self.connect()  # an in-memory database lives while one connection does
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.target = Path(path).resolve().as_uri() + "?mode=rwc"
            self._use_wal()

    def _use_wal(self) -> None:
        """Readers never wait for a writer. Switching needs a moment alone with the file:
        processes opening a new catalog together (sweep workers) take turns."""
        import sqlite3
        import time

        conn = self.connect()
        try:
            for attempt in range(100):
                try:
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                        return
                    conn.execute("PRAGMA journal_mode=WAL")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 99:
                        raise
                    time.sleep(0.05)
        finally:
            conn.close()

    def connect(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(self.target, uri=True, timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        return conn

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlocks
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def sqlalchemy_url(self) -> str:
        if self.memory:
            raise FlowTimeError(ErrorKind.INVALID, "an in-memory catalog cannot be migrated")
        return "sqlite:///" + self.target.removeprefix("file://").removesuffix("?mode=rwc")


class _PostgreSQL(_Dialect):
    name = "postgresql"
    has_version_table = "SELECT 1 WHERE to_regclass('alembic_version') IS NOT NULL"
    member = "run_id = ANY(ARRAY({}))"

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise FlowTimeError(ErrorKind.INVALID, "PostgreSQL catalogs need psycopg", [
                Problem("FLOWTIME_CATALOG", "install flowtime[postgres] (psycopg 3)")]) from None
        self.errors = (psycopg.Error,)
        self.url = url

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        with conn.transaction():
            yield

    @contextmanager
    def migration_lock(self, conn: Any) -> Iterator[None]:
        conn.execute("SELECT pg_advisory_lock(7263512)")  # one migrating process at a time
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(7263512)")

    def sqlalchemy_url(self) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _dialect(url: str) -> _Dialect:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite://"):]
        if path in ("", "/", "/:memory:"):
            return _SQLite(None)
        return _SQLite(path[1:] if path.startswith("/") else path)
    if parts.scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _PostgreSQL(urlunsplit(parts._replace(scheme="postgresql")))
    raise FlowTimeError(ErrorKind.INVALID, f"unknown catalog URL scheme '{parts.scheme}'", [
        Problem("FLOWTIME_CATALOG", "use sqlite:///path/catalog.sqlite or "
                "postgresql://user:password@host:port/database")])


def _dialect_or_unavailable(url: str, location: str) -> _Dialect:
    import sqlite3

    try:
        return _dialect(url)
    except sqlite3.Error as exc:  # e.g. a folder we may not write to
        raise _unavailable(location, exc) from exc


def _unavailable(location: str, exc: BaseException) -> FlowTimeError:
    """A database driver's error as the catalog's one kind of failure (503 over HTTP). Like
    the stores' errors it names no host, port, user or database (a driver's message
    often does): those go to the server log."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.warning("run catalog unavailable (%s): %s", location, message)
    return FlowTimeError(ErrorKind.UNAVAILABLE, "run catalog unavailable", [
        Problem("catalog", "the run catalog cannot be reached; try again shortly (the "
                "server log names the cause)")])


def public_location(url: str) -> str:
    """The URL without its password (for logs, errors and `catalog status`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class SqlRunCatalog:
    """A `RunCatalog` over SQLite or PostgreSQL (see the module docstring)."""

    def __init__(self, url: str):
        self.url = url
        self.location = public_location(url)
        self._dialect = _dialect_or_unavailable(url, self.location)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.created = False  # this object created the schema (a brand-new catalog)
        self._ready = False
        self._schema_lock = threading.Lock()
        try:
            self._ensure()
        except FlowTimeError as exc:
            if not isinstance(exc.__cause__, self._dialect.errors):
                raise  # e.g. a catalog from a newer flowtime: no point in retrying
            # unreachable now: every call tries again, so a database that comes back is used
            log.warning("run catalog %s unavailable at start: %s", self.location, exc.detail)

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._schema_lock:
            if not self._ready:
                with self._guard():
                    self._ensure_schema()
                self._ready = True

    # -- connections ---------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except self._dialect.errors as exc:
            raise _unavailable(self.location, exc) from exc

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._lock:
            if os.getpid() != self._pid:  # a forked child: never share the parent's sockets
                self._idle, self._pid = [], os.getpid()
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._dialect.connect()
        try:
            yield conn
        except BaseException:
            _close(conn)  # it may be broken (a lost server, an aborted transaction)
            raise
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(conn)
                return
        _close(conn)

    def _run(self, work: Callable[[Any], Any], *, write: bool = False) -> Any:
        self._ensure()
        with self._guard(), self._connection() as conn:
            if not write:
                return work(conn)
            with self._dialect.transaction(conn):
                return work(conn)

    def _execute(self, conn: Any, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Any:
        return conn.execute(self._dialect.sql(sql), tuple(args))

    def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.cursor().executemany(self._dialect.sql(sql), rows)

    # -- schema ----------------------------------------------------------------------
    def _version(self, conn: Any) -> str | None:
        if self._execute(conn, self._dialect.has_version_table).fetchone() is None:
            return None
        row = self._execute(conn, "SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None

    def _ensure_schema(self) -> None:
        with self._connection() as conn:
            version = self._version(conn)
            if version == schema.HEAD:
                return
            if version is not None and version not in schema.REVISIONS:
                raise FlowTimeError(ErrorKind.UNAVAILABLE, "the run catalog is newer than this "
                                    "flowtime", [Problem("catalog", "it has schema "
                                    f"revision {version}; this flowtime knows up to "
                                    f"{schema.HEAD}: upgrade flowtime")])
            with self._dialect.migration_lock(conn):
                if version is None:
                    self._create(conn)
                    return
        self.migrate()

    def _create(self, conn: Any) -> None:
        """A new catalog: every migration's statements and Alembic's version row, in one
        transaction (what `alembic upgrade head` would leave)."""
        with self._dialect.transaction(conn):
            if self._version(conn) is not None:  # another process was first
                return
            for _, statements in schema.MIGRATIONS:
                for statement in statements:
                    self._execute(conn, statement)
            self._execute(conn, schema.VERSION_TABLE)
            self._execute(conn, "INSERT INTO alembic_version (version_num) VALUES (?)",
                          (schema.HEAD,))
        self.created = True

    def migrate(self, revision: str = "head") -> None:
        """Bring an existing catalog to `revision` with Alembic (imported only here)."""
        from alembic import command
        from alembic.config import Config
        from sqlalchemy import create_engine

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        engine = create_engine(self._dialect.sqlalchemy_url())
        try:
            with self._guard(), engine.begin() as connection:
                if self._dialect.name == "postgresql":
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7263512)")
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        finally:
            engine.dispose()

    def revision(self) -> str | None:
        return self._run(self._version)

    # -- writes ----------------------------------------------------------------------
    def upsert(self, summary: RunSummary) -> None:
        self.upsert_many([summary])

    def upsert_many(self, summaries: list[RunSummary]) -> None:
        if not summaries:
            return
        faults.reached("catalog.upsert")
        runs, params, tags = [], [], []
        for s in summaries:
            runs.append((s.run_id, s.template_id, s.template_title, s.template_version, s.mode,
                         s.created_utc, s.warning_count, s.sweep_id,
                         json.dumps(s.parameters, sort_keys=True), json.dumps(s.tags,
                                                                              sort_keys=True),
                         s.base_run_id))
            for name, value in s.parameters.items():
                text, number = parameter_key(value)
                params.append((s.run_id, name, text, number))
            tags.extend((s.run_id, key, value) for key, value in s.tags.items())
        ids = [(s.run_id,) for s in summaries]

        def write(conn: Any) -> None:
            self._executemany(conn, _UPSERT, runs)
            self._executemany(conn, "DELETE FROM run_params WHERE run_id = ?", ids)
            self._executemany(conn, "INSERT INTO run_params (run_id, name, value_text, "
                              "value_num) VALUES (?, ?, ?, ?)", params)
            self._executemany(conn, "DELETE FROM run_tags WHERE run_id = ?", ids)
            self._executemany(conn, "INSERT INTO run_tags (run_id, tag_key, tag_value) "
                              "VALUES (?, ?, ?)", tags)
            self._executemany(conn, _ADD_MEMBER, members)

        members = [(s.sweep_id, s.run_id) for s in summaries if s.sweep_id]
        self._run(write, write=True)

    def add_sweep_members(self, sweep_id: str, run_ids: list[str]) -> None:
        """Record runs as points of a sweep (one made earlier and reused by it included);
        adding a member twice is fine."""
        if run_ids:
            self._run(lambda conn: self._executemany(
                conn, _ADD_MEMBER, [(sweep_id, run_id) for run_id in run_ids]), write=True)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        def write(conn: Any) -> None:
            self._execute(conn, "UPDATE runs SET tags = ? WHERE run_id = ?",
                          (json.dumps(tags, sort_keys=True), run_id))
            self._execute(conn, "DELETE FROM run_tags WHERE run_id = ?", (run_id,))
            self._executemany(conn, "INSERT INTO run_tags (run_id, tag_key, tag_value) "
                              "VALUES (?, ?, ?)", [(run_id, k, v) for k, v in tags.items()])

        self._run(write, write=True)

    def delete(self, run_id: str) -> bool:
        def write(conn: Any) -> bool:
            self._execute(conn, "DELETE FROM run_params WHERE run_id = ?", (run_id,))
            self._execute(conn, "DELETE FROM run_tags WHERE run_id = ?", (run_id,))
            self._execute(conn, "DELETE FROM sweep_runs WHERE run_id = ?", (run_id,))
            return self._execute(conn, "DELETE FROM runs WHERE run_id = ?",
                                 (run_id,)).rowcount > 0

        return bool(self._run(write, write=True))

    def clear(self) -> None:
        def write(conn: Any) -> None:
            for table in ("run_params", "run_tags", "sweep_runs", "runs"):
                self._execute(conn, f"DELETE FROM {table}")

        self._run(write, write=True)

    def needs_bootstrap(self) -> bool:
        row = self._run(lambda conn: self._execute(
            conn, "SELECT meta_value FROM catalog_meta WHERE meta_key = 'bootstrapped'"
        ).fetchone())
        return row is None

    def mark_bootstrapped(self, when_utc: str) -> None:
        self._run(lambda conn: self._execute(
            conn, "INSERT INTO catalog_meta (meta_key, meta_value) VALUES ('bootstrapped', ?) "
            "ON CONFLICT (meta_key) DO UPDATE SET meta_value = excluded.meta_value",
            (when_utc,)), write=True)

    # -- reads -----------------------------------------------------------------------
    def get(self, run_id: str) -> RunSummary | None:
        row = self._run(lambda conn: self._execute(conn, f"{_SELECT} WHERE run_id = ?",
                                                   (run_id,)).fetchone())
        return _summary(row) if row else None

    def count(self) -> int:
        return int(self._run(lambda conn: self._execute(
            conn, "SELECT count(*) FROM runs").fetchone()[0]))

    def run_ids(self) -> set[str]:
        return {row[0] for row in self._run(lambda conn: self._execute(
            conn, "SELECT run_id FROM runs").fetchall())}

    def search(self, run_filter: RunFilter, page: int, page_size: int,
               sort: str = "-createdUtc", cursor: str | None = None) -> RunPage:
        if sort not in SORTS:
            raise invalid([Problem("sort", f"must be one of {', '.join(SORTS)}")])
        column, descending = sort_key(sort)
        where, args = _where(run_filter, self._dialect.member)
        page_where, page_args = list(where), list(args)
        offset = (page - 1) * page_size
        if cursor is not None:
            value, last_id = _decode_cursor(cursor, sort)
            page_where.append(f"({column}, run_id) {'<' if descending else '>'} (?, ?)")
            page_args += [value, last_id]
            offset = 0
        direction = "DESC" if descending else "ASC"
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        page_condition = f" WHERE {' AND '.join(page_where)}" if page_where else ""

        def read(conn: Any) -> tuple[int, list[Any]]:
            total = self._execute(conn, f"SELECT count(*) FROM runs{condition}", args).fetchone()
            rows = self._execute(conn, f"{_SELECT}{page_condition} ORDER BY {column} "
                                 f"{direction}, run_id {direction} LIMIT ? OFFSET ?",
                                 [*page_args, page_size + 1, offset]).fetchall()
            return int(total[0]), rows

        total, rows = self._run(read)
        items = [_summary(row) for row in rows[:page_size]]
        next_cursor = None
        if len(rows) > page_size and items:
            last = items[-1]
            next_cursor = _encode_cursor(sort, getattr(last, column), last.run_id)
        return RunPage(items, total, page, page_size, next_cursor)

    def check(self) -> None:
        self._run(lambda conn: self._execute(conn, "SELECT 1").fetchone())

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _close(conn: Any) -> None:
    with suppress(Exception):
        conn.close()


def _summary(row: Any) -> RunSummary:
    (run_id, template_id, title, version, mode, created, warnings, sweep_id, parameters,
     tags, base_run_id) = row
    return RunSummary(run_id, template_id, title, version, mode, created, int(warnings),
                      json.loads(parameters), json.loads(tags), sweep_id, base_run_id)


def _where(f: RunFilter, member: str) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("mode", f.mode), ("template_id", f.template_id),
                          ("base_run_id", f.base_run_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if f.sweep_id is not None:  # every point, those reused from other sweeps included
        where.append(member.format("SELECT run_id FROM sweep_runs WHERE sweep_id = ?"))
        args.append(f.sweep_id)
    if f.has_warnings is not None:
        where.append("warning_count > 0" if f.has_warnings else "warning_count = 0")
    if f.sweep_members == "exclude":
        where.append("NOT EXISTS (SELECT 1 FROM sweep_runs m WHERE m.run_id = runs.run_id)")
    elif f.sweep_members == "only":
        where.append("EXISTS (SELECT 1 FROM sweep_runs m WHERE m.run_id = runs.run_id)")
    if f.created_from is not None:
        where.append("created_utc >= ?")
        args.append(f.created_from)
    if f.created_to is not None:
        where.append("created_utc < ?")
        args.append(f.created_to)
    for name, text in f.parameters.items():
        number = query_number(text)
        if number is None:
            where.append(member.format("SELECT run_id FROM run_params WHERE name = ? AND "
                                       "value_text = ?"))
            args += [name, text]
        else:
            where.append(member.format("SELECT run_id FROM run_params WHERE name = ? AND "
                                       "(value_num = ? OR value_text = ?)"))
            args += [name, number, text]
    for key, value in f.tags.items():
        if value is None:
            where.append("run_id IN (SELECT run_id FROM run_tags WHERE tag_key = ?)")
            args.append(key)
        else:
            where.append("run_id IN (SELECT run_id FROM run_tags WHERE tag_key = ? AND "
                         "tag_value = ?)")
            args += [key, value]
    return where, args


def _encode_cursor(sort: str, value: Any, run_id: str) -> str:
    raw = json.dumps([sort, value, run_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, run_id = json.loads(raw)
        if not isinstance(run_id, str) or not isinstance(value, str | int):
            raise ValueError
    except (ValueError, TypeError):
        raise invalid([Problem("cursor", "not a cursor from a previous page")]) from None
    if cursor_sort != sort:
        raise invalid([Problem("cursor", f"this cursor continues a listing sorted by "
                                         f"{cursor_sort}, not {sort}")])
    return value, run_id
