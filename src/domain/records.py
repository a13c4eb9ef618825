"""Reading a bundle's JSON files back into a RunRecord (used by create and get)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flowtime.domain.bundle import (
    MANIFEST_JSON,
    METADATA_JSON,
    MODEL_YAML,
    PROVENANCE_JSON,
    RUN_JSON,
    SERIES_INDEX,
    TELEMETRY_MANIFEST,
    warning_from_json,
)
from flowtime.domain.hashing import sha256_bytes
from flowtime.domain.runs import RunRecord

Reader = Callable[[str], bytes]
Locator = Callable[[str], str]


def build_record(run_id: str, read: Reader, locate: Locator, present: set[str]) -> RunRecord:
    metadata: dict[str, Any] = json.loads(read(METADATA_JSON))
    run: dict[str, Any] = json.loads(read(RUN_JSON))
    index: dict[str, Any] = json.loads(read(SERIES_INDEX))
    provenance_bytes = read(PROVENANCE_JSON)
    telemetry: dict[str, Any] = json.loads(read(TELEMETRY_MANIFEST))
    sources = [f["path"] for f in telemetry.get("files", [])]
    mode = metadata["mode"]
    grid = dict(run["grid"])
    grid["startTimeUtc"] = metadata.get("window", {}).get("startTimeUtc")
    grid["durationMinutes"] = metadata.get("window", {}).get("durationMinutes")
    return RunRecord(
        run_id=run_id,
        template_id=metadata["templateId"],
        template_title=metadata.get("templateTitle", ""),
        template_version=metadata.get("templateVersion", ""),
        mode=mode,
        provenance_hash=sha256_bytes(provenance_bytes),
        model_hash=run["modelHash"],
        scenario_hash=run["scenarioHash"],
        telemetry_sources=sources,
        storage={
            "modelPath": locate(MODEL_YAML),
            "metadataPath": locate(METADATA_JSON),
            "provenancePath": locate(PROVENANCE_JSON),
        },
        warnings=[warning_from_json(w) for w in metadata.get("warnings", [])],
        grid=grid,
        artifacts={
            "runJson": RUN_JSON in present,
            "manifestJson": MANIFEST_JSON in present,
            "seriesIndex": SERIES_INDEX in present,
            "seriesCount": len(index.get("series", [])),
        },
        can_replay=mode == "simulation" or bool(sources),
        created_utc=run["createdUtc"],
    )
