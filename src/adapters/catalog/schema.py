"""The catalog's schema, as portable SQL (the same statements run on SQLite and PostgreSQL).

Each migration is a list of statements. Alembic applies them (`migrations/versions/`, one
module per revision executing the list below) when an existing catalog is behind; a brand
new catalog gets every list run in one transaction plus Alembic's own version row, exactly
what `alembic upgrade head` leaves behind, without importing Alembic and SQLAlchemy
(~0.4 s, paid otherwise by the first CLI command on every new data folder). A test checks
that both ways give the same tables, columns and indexes.

Parameter values are searched through a key/value table (`run_params`) indexed by
(name, value_num) and (name, value_text): it works the same on both databases, where a
JSONB column would be PostgreSQL-only; the catalog benchmark measures the search.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, list[str]]] = [
    ("0001", [
        """CREATE TABLE runs (
            run_id VARCHAR(128) NOT NULL PRIMARY KEY,
            template_id VARCHAR(256) NOT NULL,
            template_title TEXT NOT NULL,
            template_version VARCHAR(64) NOT NULL,
            mode VARCHAR(16) NOT NULL,
            created_utc VARCHAR(40) NOT NULL,
            warning_count INTEGER NOT NULL,
            sweep_id VARCHAR(128),
            parameters TEXT NOT NULL,
            tags TEXT NOT NULL
        )""",
        "CREATE INDEX ix_runs_created ON runs (created_utc, run_id)",
        "CREATE INDEX ix_runs_template ON runs (template_id, created_utc, run_id)",
        "CREATE INDEX ix_runs_mode ON runs (mode, created_utc, run_id)",
        "CREATE INDEX ix_runs_sweep ON runs (sweep_id, created_utc, run_id)",
        "CREATE INDEX ix_runs_warnings ON runs (warning_count, created_utc, run_id)",
        """CREATE TABLE run_params (
            run_id VARCHAR(128) NOT NULL,
            name VARCHAR(128) NOT NULL,
            value_text VARCHAR(512),
            value_num DOUBLE PRECISION,
            PRIMARY KEY (run_id, name)
        )""",
        "CREATE INDEX ix_run_params_num ON run_params (name, value_num)",
        "CREATE INDEX ix_run_params_text ON run_params (name, value_text)",
        """CREATE TABLE run_tags (
            run_id VARCHAR(128) NOT NULL,
            tag_key VARCHAR(64) NOT NULL,
            tag_value VARCHAR(256) NOT NULL,
            PRIMARY KEY (run_id, tag_key)
        )""",
        "CREATE INDEX ix_run_tags_value ON run_tags (tag_key, tag_value)",
        """CREATE TABLE catalog_meta (
            meta_key VARCHAR(64) NOT NULL PRIMARY KEY,
            meta_value TEXT NOT NULL
        )""",
    ]),
]

MIGRATIONS.append(("0002", [
    # scenarios (MODELING §10): the run a scenario was derived from, listed by it
    "ALTER TABLE runs ADD COLUMN base_run_id VARCHAR(128)",
    "CREATE INDEX ix_runs_base ON runs (base_run_id, created_utc, run_id)",
]))

MIGRATIONS.append(("0003", [
    # sweep membership is many-to-many: a point reused from an earlier sweep belongs to both
    """CREATE TABLE sweep_runs (
        sweep_id VARCHAR(128) NOT NULL,
        run_id VARCHAR(128) NOT NULL,
        PRIMARY KEY (sweep_id, run_id)
    )""",
    "CREATE INDEX ix_sweep_runs_run ON sweep_runs (run_id)",
    "INSERT INTO sweep_runs (sweep_id, run_id) SELECT sweep_id, run_id FROM runs "
    "WHERE sweep_id IS NOT NULL",
]))

DOWNGRADES: dict[str, list[str]] = {
    "0003": ["DROP TABLE sweep_runs"],
    "0002": ["DROP INDEX ix_runs_base", "ALTER TABLE runs DROP COLUMN base_run_id"],
    "0001": ["DROP TABLE catalog_meta", "DROP TABLE run_tags", "DROP TABLE run_params",
             "DROP TABLE runs"],
}

HEAD = MIGRATIONS[-1][0]
REVISIONS = [revision for revision, _ in MIGRATIONS]
# What Alembic creates to remember the revision (its default table and column).
VERSION_TABLE = ("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                 "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")


def statements(revision: str) -> list[str]:
    return dict(MIGRATIONS)[revision]
