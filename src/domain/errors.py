"""One error family for the domain.

Every error carries a *kind* (what went wrong, in terms a driver can map to a status or
exit code) and a list of problems, each with a location path and a message a person can
act on. The domain never speaks HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNPROCESSABLE = "unprocessable"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"  # a request ran out of its time budget
    BUSY = "busy"  # too many such requests at once: try again shortly
    UNSUPPORTED = "unsupported"  # the configured adapter cannot do this (a read-only source)
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Problem:
    loc: str
    msg: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.msg}" if self.loc else self.msg


class FlowTimeError(Exception):
    """A failure the caller can act on; `problems` lists every issue found."""

    def __init__(self, kind: ErrorKind, detail: str, problems: list[Problem] | None = None):
        self.kind = kind
        self.detail = detail
        self.problems = list(problems or [])
        super().__init__(detail)

    def __str__(self) -> str:
        return self.detail


def invalid(problems: list[Problem], what: str = "validation failed") -> FlowTimeError:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    first = f": {problems[0]}" if count == 1 else ""
    return FlowTimeError(ErrorKind.INVALID, f"{what} ({count} {noun}){first}", problems)


def not_found(loc: str, msg: str) -> FlowTimeError:
    return FlowTimeError(ErrorKind.NOT_FOUND, msg, [Problem(loc, msg)])


def conflict(loc: str, msg: str) -> FlowTimeError:
    return FlowTimeError(ErrorKind.CONFLICT, msg, [Problem(loc, msg)])


class ProblemCollector:
    """Accumulates problems so validation can report all of them at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, loc: str, msg: str) -> None:
        problem = Problem(loc, msg)
        if problem not in self.problems:
            self.problems.append(problem)

    def extend(self, problems: list[Problem]) -> None:
        for p in problems:
            self.add(p.loc, p.msg)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self, what: str = "validation failed") -> None:
        if self.problems:
            raise invalid(self.problems, what)
