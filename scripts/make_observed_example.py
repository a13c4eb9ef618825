"""Write examples/observed/metrics.csv: one synthetic but realistic day of a checkout API's
metrics, scraped every 15 s — `requests_total` and `completed_total` (counters; the process
restarts at 14:07, so both reset once), `queue_depth` (a gauge) — with a scrape outage
from 03:00 to 03:45 (no rows). Arrivals follow a daytime shape with Poisson noise; the API
completes at most 25 requests per 15 s (1,500 per 15 minutes), so a backlog builds around
noon. Deterministic (seeded): running it again writes the same file.

    python scripts/make_observed_example.py [--out examples/observed/metrics.csv]
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2026, 11, 2, tzinfo=UTC)
STEP = 15  # seconds between scrapes
PER_STEP = 25.0  # completions per 15 s at most
RESTART = START + timedelta(hours=14, minutes=7)
OUTAGE = (START + timedelta(hours=3), START + timedelta(hours=3, minutes=45))


def rate(hour: float) -> float:
    """Mean arrivals per 15 s: a night floor, a morning ramp, a noon peak above capacity."""
    day = math.exp(-((hour - 12.5) / 3.2) ** 2)
    evening = 0.35 * math.exp(-((hour - 19.0) / 1.6) ** 2)
    return 4.0 + 24.0 * day + 8.0 * evening


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/observed/metrics.csv")
    out = Path(parser.parse_args().out)
    rng = np.random.default_rng(20261102)
    queue = 0.0
    requests = completed = 0.0
    rows = ["timestamp,requests_total,completed_total,queue_depth"]
    restarted = False
    for i in range(24 * 3600 // STEP):
        moment = START + timedelta(seconds=i * STEP)
        arrivals = float(rng.poisson(rate(i * STEP / 3600)))
        served = min(queue + arrivals, PER_STEP)
        queue = queue + arrivals - served
        requests += arrivals
        completed += served
        if not restarted and moment >= RESTART:
            requests, completed, restarted = arrivals, served, True  # counters start over
        if OUTAGE[0] <= moment < OUTAGE[1]:
            continue
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(f"{stamp},{requests:g},{completed:g},{queue:g}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(rows) - 1} samples)")


if __name__ == "__main__":
    main()
