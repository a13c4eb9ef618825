"""Checks shared by every store: run ids and bundle-relative paths that cannot escape; and
the one-by-one `read_many` of the local stores."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence

from flowtime.domain.artifacts.hashing import is_valid_run_id
from flowtime.domain.errors import FlowTimeError, Problem, conflict, invalid

MAX_PATH_LENGTH = 512


def check_run_id(run_id: str) -> None:
    if not isinstance(run_id, str) or not is_valid_run_id(run_id):
        raise invalid([Problem("runId", "not a valid run id (letters, digits, '.', '_', '-'; "
                               "starts with a letter or digit; at most 128 characters)")])


# kind -> the record's file; `catalog-backlog`: published runs the catalog has not listed yet
RECORD_FILES = {"analyses": "result.json", "tags": "tags.json", "catalog-backlog": "run.json",
                "forecasts": "forecast.json", "drafts": "draft.json"}
RECORD_KINDS = tuple(RECORD_FILES)


def check_record(kind: str, record_id: str) -> None:
    """A known record kind and an id shaped like a run id (one path segment)."""
    if kind not in RECORD_KINDS:
        raise invalid([Problem("kind", f"unknown record kind '{kind}'")])
    if not isinstance(record_id, str) or not is_valid_run_id(record_id):
        raise invalid([Problem("id", "not a valid id (letters, digits, '.', '_', '-')")])


def check_relative_path(path: str) -> list[str]:
    """The path's parts; refuses absolute paths, `..`, hidden parts, backslashes and NUL."""
    if (
        not isinstance(path, str)
        or not path
        or len(path) > MAX_PATH_LENGTH
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
    ):
        raise invalid([Problem("path", "must be a relative path inside the run bundle")])
    parts = path.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise invalid([Problem("path", "must be a relative path inside the run bundle "
                               "(no '..', empty or hidden parts)")])
    return parts


def check_bundle(run_id: str, paths: Iterable[str]) -> None:
    """What every store checks before publishing: a valid id and contained paths."""
    check_run_id(run_id)
    for path in paths:
        check_relative_path(path)


def already_exists(run_id: str) -> FlowTimeError:
    return conflict("runId", f"run '{run_id}' already exists")


def read_one_by_one(files: list[str], read: Callable[[str], bytes],
                    paths: Sequence[str] | None) -> dict[str, bytes]:
    """`read_many` where reads are local and cheap: the asked-for files the run has, read
    one after another (a file gone meanwhile is absent, as the port documents)."""
    for path in paths or ():
        check_relative_path(path)
    present = set(files)
    data = {}
    for path in files if paths is None else [p for p in paths if p in present]:
        with contextlib.suppress(FlowTimeError):
            data[path] = read(path)
    return data
