"""The run catalog's contract, run the same way on SQLite and on a real PostgreSQL.

Expected results are written by hand for the filters (which runs must match and why); a
second check compares every filter with the plain-Python reading of the same rules
(`RunFilter.accepts` + `paginate`) over the same summaries.
"""

from __future__ import annotations

import threading

import pytest

from flowtime.adapters.catalog import schema
from flowtime.adapters.catalog.sql import SqlRunCatalog
from flowtime.domain.errors import FlowTimeError
from flowtime.domain.runs import RunFilter, RunSummary, paginate


def summary(run_id: str, created: str, template: str = "it-system", mode: str = "simulation",
            warnings: int = 0, sweep: str | None = None, tags: dict | None = None,
            **parameters) -> RunSummary:
    return RunSummary(run_id, template, f"{template} title", "1.0.0", mode,
                      f"2026-01-{created}Z", warnings, parameters, tags or {}, sweep)


RUNS = [
    summary("r01", "01T00:00:00", capacity=40, region="eu", fast=True),
    summary("r02", "02T00:00:00", capacity=40.0, region="us", tags={"team": "ops"}),
    summary("r03", "03T00:00:00", capacity=41.5, region="eu", warnings=2,
            tags={"team": "ops", "stage": "prod"}),
    summary("r04", "04T00:00:00", template="supply-chain", capacity=40, sweep="sweep_a"),
    summary("r05", "05T00:00:00", template="supply-chain", capacity=50, sweep="sweep_a"),
    summary("r06", "06T00:00:00", mode="telemetry", warnings=1, tags={"stage": "dev"},
            profile=[1, 2, 3]),
    summary("r07", "06T00:00:00", region="40", sweep="sweep_b"),  # same time: id breaks ties
    summary("r08", "08T12:30:00", capacity=-3, fast=False, tags={"team": "data"}),
]

# filter -> the run ids it must give, newest first (ties: higher run id first)
CASES = [
    (RunFilter(), ["r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01"]),
    (RunFilter(mode="telemetry"), ["r06"]),
    (RunFilter(template_id="supply-chain"), ["r05", "r04"]),
    (RunFilter(has_warnings=True), ["r06", "r03"]),
    (RunFilter(has_warnings=False), ["r08", "r07", "r05", "r04", "r02", "r01"]),
    (RunFilter(parameters={"capacity": "40"}), ["r04", "r02", "r01"]),  # 40 and 40.0
    (RunFilter(parameters={"capacity": "40.0"}), ["r04", "r02", "r01"]),
    (RunFilter(parameters={"capacity": "41.5"}), ["r03"]),
    (RunFilter(parameters={"capacity": "-3"}), ["r08"]),
    (RunFilter(parameters={"region": "eu"}), ["r03", "r01"]),
    (RunFilter(parameters={"region": "40"}), ["r07"]),  # the text "40", not the number
    (RunFilter(parameters={"fast": "true"}), ["r01"]),
    (RunFilter(parameters={"fast": "false"}), ["r08"]),
    (RunFilter(parameters={"profile": "[1,2,3]"}), ["r06"]),
    (RunFilter(parameters={"capacity": "40", "region": "us"}), ["r02"]),
    (RunFilter(parameters={"nothing": "1"}), []),
    (RunFilter(tags={"team": None}), ["r08", "r03", "r02"]),
    (RunFilter(tags={"team": "ops"}), ["r03", "r02"]),
    (RunFilter(tags={"team": "ops", "stage": "prod"}), ["r03"]),
    (RunFilter(tags={"stage": "qa"}), []),
    (RunFilter(sweep_id="sweep_a"), ["r05", "r04"]),
    (RunFilter(sweep_members="exclude"), ["r08", "r06", "r03", "r02", "r01"]),
    (RunFilter(sweep_members="only"), ["r07", "r05", "r04"]),
    (RunFilter(created_from="2026-01-03T00:00:00Z"), ["r08", "r07", "r06", "r05", "r04", "r03"]),
    (RunFilter(created_to="2026-01-03T00:00:00Z"), ["r02", "r01"]),
    (RunFilter(created_from="2026-01-04T00:00:00Z", created_to="2026-01-06T00:00:01Z",
               template_id="it-system"), ["r07", "r06"]),
    (RunFilter(template_id="supply-chain", parameters={"capacity": "40"}), ["r04"]),
]


@pytest.fixture
def catalog(catalog_url):
    made = SqlRunCatalog(catalog_url)
    made.upsert_many(RUNS)
    yield made
    made.close()


def ids(page) -> list[str]:
    return [s.run_id for s in page.items]


@pytest.mark.parametrize(("run_filter", "expected"), CASES)
def test_every_filter_finds_exactly_the_runs_it_should(catalog, run_filter, expected):
    page = catalog.search(run_filter, 1, 50)
    assert ids(page) == expected
    assert page.total_count == len(expected)
    assert ids(paginate(RUNS, run_filter, 1, 50)) == expected  # the Python reading agrees


def test_rows_come_back_as_they_went_in(catalog):
    assert catalog.get("r03") == RUNS[2]
    assert catalog.get("r06").parameters == {"profile": [1, 2, 3]}
    assert catalog.get("missing") is None
    assert catalog.count() == len(RUNS)
    assert catalog.run_ids() == {s.run_id for s in RUNS}


def test_upsert_is_idempotent_and_replaces_the_row(catalog):
    catalog.upsert(RUNS[0])
    catalog.upsert_many([RUNS[0], RUNS[1]])
    assert catalog.count() == len(RUNS)
    changed = summary("r01", "01T00:00:00", capacity=99, tags={"team": "new"})
    catalog.upsert(changed)
    assert catalog.get("r01") == changed
    assert catalog.count() == len(RUNS)
    # the old parameter and tag rows went with the old version of the row
    assert "r01" not in ids(catalog.search(RunFilter(parameters={"capacity": "40"}), 1, 50))
    assert "r01" not in ids(catalog.search(RunFilter(parameters={"fast": "true"}), 1, 50))
    assert ids(catalog.search(RunFilter(tags={"team": "new"}), 1, 50)) == ["r01"]


def test_tags_change_in_place(catalog):
    catalog.set_tags("r02", {"team": "data", "owner": "kim"})
    assert catalog.get("r02").tags == {"owner": "kim", "team": "data"}
    assert ids(catalog.search(RunFilter(tags={"team": "data"}), 1, 50)) == ["r08", "r02"]
    assert ids(catalog.search(RunFilter(tags={"team": "ops"}), 1, 50)) == ["r03"]
    catalog.set_tags("r02", {})
    assert catalog.get("r02").tags == {}
    assert ids(catalog.search(RunFilter(tags={"owner": None}), 1, 50)) == []


def test_delete_removes_the_row_and_its_search_entries(catalog):
    assert catalog.delete("r02") is True
    assert catalog.delete("r02") is False
    assert catalog.get("r02") is None
    assert ids(catalog.search(RunFilter(parameters={"capacity": "40"}), 1, 50)) == ["r04", "r01"]
    assert ids(catalog.search(RunFilter(tags={"team": "ops"}), 1, 50)) == ["r03"]
    assert catalog.count() == len(RUNS) - 1


def test_a_reused_run_is_a_member_of_every_sweep_that_used_it(catalog):
    catalog.add_sweep_members("sweep_b", ["r04", "r01"])
    catalog.add_sweep_members("sweep_b", ["r04"])  # twice is fine
    assert ids(catalog.search(RunFilter(sweep_id="sweep_b"), 1, 50)) == ["r07", "r04", "r01"]
    assert ids(catalog.search(RunFilter(sweep_id="sweep_a"), 1, 50)) == ["r05", "r04"]
    assert catalog.search(RunFilter(sweep_id="sweep_b"), 1, 50).total_count == 3
    assert ids(catalog.search(RunFilter(sweep_members="exclude"), 1, 50)) == [
        "r08", "r06", "r03", "r02"]
    assert catalog.get("r04").sweep_id == "sweep_a"  # the sweep that made it stays its own
    catalog.delete("r04")
    assert ids(catalog.search(RunFilter(sweep_id="sweep_b"), 1, 50)) == ["r07", "r01"]


def test_pages_and_sorts(catalog):
    second = catalog.search(RunFilter(), 2, 3)
    assert ids(second) == ["r05", "r04", "r03"]
    assert (second.total_count, second.page, second.page_size) == (8, 2, 3)
    assert ids(catalog.search(RunFilter(), 3, 3)) == ["r02", "r01"]
    assert ids(catalog.search(RunFilter(), 4, 3)) == []
    assert ids(catalog.search(RunFilter(), 1, 3, sort="createdUtc")) == ["r01", "r02", "r03"]
    assert ids(catalog.search(RunFilter(), 1, 3, sort="-runId")) == ["r08", "r07", "r06"]
    by_template = ids(catalog.search(RunFilter(), 1, 50, sort="templateId"))
    assert by_template == ["r01", "r02", "r03", "r06", "r07", "r08", "r04", "r05"]
    with pytest.raises(FlowTimeError) as bad:
        catalog.search(RunFilter(), 1, 3, sort="size")
    assert bad.value.problems[0].loc == "sort"


def test_cursor_paging_is_stable_while_newer_runs_arrive(catalog):
    first = catalog.search(RunFilter(), 1, 3)
    assert ids(first) == ["r08", "r07", "r06"] and first.next_cursor
    # newer runs arrive between the pages (as from another replica)
    catalog.upsert_many([summary(f"n{i}", f"2{i}T00:00:00") for i in range(5)])
    seen = ids(first)
    cursor = first.next_cursor
    while cursor:
        page = catalog.search(RunFilter(), 1, 3, cursor=cursor)
        seen += ids(page)
        cursor = page.next_cursor
    assert seen == ["r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01"]
    # offset paging, by contrast, shifts: page 2 now repeats a run of the old page 1
    assert ids(catalog.search(RunFilter(), 2, 3)) == ["n1", "n0", "r08"]
    with pytest.raises(FlowTimeError):
        catalog.search(RunFilter(), 1, 3, sort="runId", cursor=first.next_cursor)
    with pytest.raises(FlowTimeError):
        catalog.search(RunFilter(), 1, 3, cursor="not-a-cursor")


def test_concurrent_writers_lose_nothing(catalog):
    def write(worker: int) -> None:
        for i in range(25):
            catalog.upsert(summary(f"w{worker}-{i:02d}", "09T00:00:00", capacity=worker,
                                   tags={"worker": str(worker)}))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert catalog.count() == len(RUNS) + 150
    assert catalog.search(RunFilter(tags={"worker": "3"}), 1, 50).total_count == 25
    assert catalog.search(RunFilter(parameters={"capacity": "5"}), 1, 50).total_count == 25


def test_a_second_catalog_object_sees_the_same_rows_and_bootstrap_is_remembered(catalog_url):
    first = SqlRunCatalog(catalog_url)
    assert first.created and first.needs_bootstrap()
    first.upsert(RUNS[0])
    first.mark_bootstrapped("2026-01-01T00:00:00Z")
    second = SqlRunCatalog(catalog_url)
    assert not second.created and not second.needs_bootstrap()
    assert second.get("r01") == RUNS[0]
    assert second.revision() == schema.HEAD


def _schema_shape(url: str) -> dict:
    """Tables -> sorted columns, and index names, read from the database itself."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    inspector = sqlalchemy.inspect(engine)
    shape = {}
    for table in sorted(inspector.get_table_names()):
        columns = sorted((c["name"], str(c["type"]).split("(")[0], c["nullable"])
                         for c in inspector.get_columns(table))
        indexes = sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table))
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        shape[table] = (columns, indexes, primary)
    engine.dispose()
    return shape


def test_a_new_catalog_matches_what_alembic_builds(catalog_url, tmp_path, request):
    """The fast path for new catalogs and `alembic upgrade head` give the same schema."""
    if catalog_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'by-alembic.sqlite'}"
    else:
        other = request.getfixturevalue("postgres").new_database()
    SqlRunCatalog(catalog_url)  # fast path
    from alembic import command
    from alembic.config import Config

    from flowtime.adapters.catalog import sql

    config = Config()
    config.set_main_option("script_location", str(sql.__file__).replace("sql.py", "migrations"))
    config.set_main_option("sqlalchemy.url", other.replace("postgresql://",
                                                           "postgresql+psycopg://"))
    command.upgrade(config, "head")
    assert _schema_shape(catalog_url) == _schema_shape(other)
    opened = SqlRunCatalog(other)  # and flowtime accepts the Alembic-built catalog as is
    assert not opened.created and opened.revision() == schema.HEAD
    command.downgrade(config, "base")
    assert set(_schema_shape(other)) == {"alembic_version"}


def test_a_catalog_from_a_newer_flowtime_is_refused_clearly(catalog_url):
    made = SqlRunCatalog(catalog_url)
    made._run(lambda conn: made._execute(conn, "UPDATE alembic_version SET version_num = ?",
                                         ("9999",)), write=True)
    made.close()
    with pytest.raises(FlowTimeError) as refused:
        SqlRunCatalog(catalog_url)
    assert refused.value.kind == "unavailable"
    assert "9999" in str(refused.value.problems[0])
