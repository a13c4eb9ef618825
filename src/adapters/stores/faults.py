"""Named points inside a store's publish where a test can crash the process on purpose.

A crash-safety test arms a point in a child process (`arm("file.staged")`); when the
store reaches it, the process SIGKILLs itself there, exactly between two steps. Nothing
is armed in production, where `reached` is one set lookup.

Points: `file.staged` (bundle staged, not yet renamed into place), `file.exchanged` (an
overwrite swapped the folders; the old bundle still sits in staging), `file.old_aside`
(an overwrite without RENAME_EXCHANGE moved the old bundle to the trash), `s3.objects_written`
(every object of a generation written, no commit yet), `s3.committed` (the commit points
to the new generation; the old one is not deleted yet), `catalog.upsert` (a run published,
its catalog row not yet written).
"""

from __future__ import annotations

import os
import signal

POINTS = ("file.staged", "file.exchanged", "file.old_aside", "s3.objects_written",
          "s3.committed", "catalog.upsert")
_armed: set[str] = set()


def arm(point: str) -> None:
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r} (known: {', '.join(POINTS)})")
    _armed.add(point)


def reached(point: str) -> None:
    if point in _armed:
        os.kill(os.getpid(), signal.SIGKILL)
