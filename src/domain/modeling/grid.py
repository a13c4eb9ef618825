"""The time grid: equal bins, aligned left, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

BIN_UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080}


class TimeGrid(msgspec.Struct, frozen=True):
    bins: int
    bin_size: int
    bin_unit: str
    start: datetime

    @property
    def bin_minutes(self) -> int:
        return self.bin_size * BIN_UNIT_MINUTES[self.bin_unit]

    @property
    def duration_minutes(self) -> int:
        return self.bins * self.bin_minutes

    def bin_start(self, index: int) -> datetime:
        return self.start + timedelta(minutes=index * self.bin_minutes)

    def bin_end(self, index: int) -> datetime:
        return self.bin_start(index + 1)


def format_utc(moment: datetime) -> str:
    """ISO 8601 with a `Z` suffix; whole seconds unless there is a fraction."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime | None:
    """Parse an ISO 8601 instant that is explicitly UTC (`Z` or `+00:00`); else None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        return None
    return moment.astimezone(UTC)
