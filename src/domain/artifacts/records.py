"""A stored run described as a RunRecord: from the documents in memory right after a
publish, or decoded from the store with the bundle codec."""

from __future__ import annotations

from collections.abc import Callable

from flowtime.domain.artifacts.bundle import run_warning
from flowtime.domain.artifacts.codec import (
    MANIFEST_JSON,
    METADATA_JSON,
    MODEL_YAML,
    PROVENANCE_JSON,
    RUN_JSON,
    SERIES_INDEX,
    TELEMETRY_MANIFEST,
    ManifestJson,
    ProvenanceJson,
    RunJson,
    RunMetadataJson,
    SeriesIndexJson,
    TelemetryManifestJson,
    decode,
)
from flowtime.domain.artifacts.hashing import sha256_bytes
from flowtime.domain.runs import (
    ArtifactFlags,
    Bottleneck,
    GridSummary,
    RunRecord,
    RunSummary,
    StoragePaths,
)

Reader = Callable[[str], bytes]
Locator = Callable[[str], str]


def record_of(
    run: RunJson,
    metadata: RunMetadataJson,
    index: SeriesIndexJson,
    telemetry: TelemetryManifestJson,
    provenance_hash: str,
    locate: Locator,
    present: set[str],
    provenance: ProvenanceJson | None = None,
    manifest: ManifestJson | None = None,
) -> RunRecord:
    sources = [f.path for f in telemetry.files]
    return RunRecord(
        run_id=run.run_id,
        template_id=metadata.template_id,
        template_title=metadata.template_title,
        template_version=metadata.template_version,
        mode=metadata.mode,
        provenance_hash=provenance_hash,
        model_hash=run.model_hash,
        scenario_hash=run.scenario_hash,
        telemetry_sources=sources,
        storage=StoragePaths(locate(MODEL_YAML), locate(METADATA_JSON), locate(PROVENANCE_JSON)),
        warnings=[run_warning(w) for w in metadata.warnings],
        grid=GridSummary(run.grid.bins, run.grid.bin_size, run.grid.bin_unit,
                         metadata.window.start_time_utc, metadata.window.duration_minutes),
        artifacts=ArtifactFlags(RUN_JSON in present, MANIFEST_JSON in present,
                                SERIES_INDEX in present, len(index.series)),
        can_replay=metadata.mode == "simulation" or bool(sources),
        created_utc=run.created_utc,
        bottlenecks=[Bottleneck(b.node_id, tuple(b.bins), b.queue_growth, b.mean_utilization,
                                tuple(b.path))
                     for b in (metadata.analysis.bottlenecks if metadata.analysis else [])],
        parameters=dict(metadata.parameters),
        pmf_mode=metadata.pmf_mode,
        seed=manifest.rng.seed if manifest else (provenance.seed if provenance else None),
        rng_kind=manifest.rng.kind if manifest else None,
        template_hash=provenance.template_hash if provenance else None,
        sweep_id=metadata.sweep_id,
        base_run_id=metadata.base_run_id,
        overlays=list(metadata.overlays or []),
    )


# the documents `read_record` decodes (a remote store fetches them together)
RECORD_FILES = (RUN_JSON, METADATA_JSON, SERIES_INDEX, TELEMETRY_MANIFEST, PROVENANCE_JSON,
                MANIFEST_JSON)


def read_record(run_id: str, read: Reader, locate: Locator, present: set[str]) -> RunRecord:
    """Decode the run's documents from storage (each decode names a damaged file)."""
    provenance = read(PROVENANCE_JSON)
    return record_of(
        decode(read(RUN_JSON), RunJson, RUN_JSON, run_id),
        decode(read(METADATA_JSON), RunMetadataJson, METADATA_JSON, run_id),
        decode(read(SERIES_INDEX), SeriesIndexJson, SERIES_INDEX, run_id),
        decode(read(TELEMETRY_MANIFEST), TelemetryManifestJson, TELEMETRY_MANIFEST, run_id),
        sha256_bytes(provenance),
        locate, present,
        decode(provenance, ProvenanceJson, PROVENANCE_JSON, run_id),
        decode(read(MANIFEST_JSON), ManifestJson, MANIFEST_JSON, run_id),
    )


def summary_of(run_id: str, read: Reader) -> RunSummary:
    """A run's listing summary, derived from its bundle (for bundles written without one)."""
    metadata = decode(read(METADATA_JSON), RunMetadataJson, METADATA_JSON, run_id)
    run = decode(read(RUN_JSON), RunJson, RUN_JSON, run_id)
    return RunSummary(
        run_id=run_id, template_id=metadata.template_id,
        template_title=metadata.template_title, template_version=metadata.template_version,
        mode=metadata.mode, created_utc=run.created_utc, warning_count=len(metadata.warnings),
        parameters=dict(metadata.parameters), sweep_id=metadata.sweep_id,
        base_run_id=metadata.base_run_id,
    )
