"""Encoding a run's wide table (domain/export.py) as CSV, JSON, Parquet or Arrow.

Parquet and Arrow use pyarrow (the `arrow` extra): the columnar formats people query with
DuckDB, pandas or Spark, written by the reference implementation of Arrow rather than by
hand. Their schema metadata carries the run id and the bundle's hashes.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

from flowtime.domain.bundle import format_value
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
from flowtime.domain.export import RecordTable, WideTable, sweep_table
from flowtime.domain.grid import format_utc

FORMATS = {"csv": "text/csv", "json": "application/json",
           "parquet": "application/vnd.apache.parquet",
           "arrow": "application/vnd.apache.arrow.file"}


def encode_table(table: WideTable, fmt: str, metadata: dict[str, str]) -> bytes:
    if fmt == "csv":
        return _csv(table)
    if fmt == "json":
        return _json(table, metadata)
    if fmt in ("parquet", "arrow"):
        return _columnar(table, fmt, metadata)
    raise FlowTimeError(ErrorKind.INVALID, f"unknown format '{fmt}'", [
        Problem("format", f"must be one of {', '.join(FORMATS)}")])


def _csv(table: WideTable) -> bytes:
    names = list(table.columns)
    head = ["time", "bin", *(["class"] if table.classes else []), *names]
    lines = [",".join(head)]
    columns = [table.columns[n].tolist() for n in names]
    for row in range(table.rows):
        cells = [format_utc(table.times[row]), str(int(table.bins[row]))]
        if table.classes:
            cells.append(table.classes[row])
        cells.extend("" if math.isnan(c[row]) and table.classes else format_value(c[row])
                     for c in columns)
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json(table: WideTable, metadata: dict[str, str]) -> bytes:
    def number(v: float) -> Any:
        return v if math.isfinite(v) else None

    body = {"metadata": metadata, "time": [format_utc(t) for t in table.times],
            "bin": table.bins.tolist(),
            **({"class": table.classes} if table.classes else {}),
            "series": {k: [number(v) for v in values.tolist()]
                       for k, values in table.columns.items()}}
    return json.dumps(body, allow_nan=False).encode("utf-8")


def _pyarrow(fmt: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise FlowTimeError(ErrorKind.UNAVAILABLE, f"{fmt} export needs pyarrow", [
            Problem("format", f"{fmt} needs pyarrow: pip install 'flowtime[arrow]'")]) from None
    return pyarrow


def _write_columnar(arrow_table: Any, fmt: str) -> bytes:
    pa = _pyarrow(fmt)
    sink = io.BytesIO()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(arrow_table, sink)
    else:
        with pa.ipc.new_file(sink, arrow_table.schema) as writer:
            writer.write_table(arrow_table)
    return sink.getvalue()


def _columnar(table: WideTable, fmt: str, metadata: dict[str, str]) -> bytes:
    pa = _pyarrow(fmt)
    arrays: dict[str, Any] = {"time": pa.array(table.times, type=pa.timestamp("ms", tz="UTC")),
                              "bin": pa.array(table.bins, type=pa.int64())}
    if table.classes:
        arrays["class"] = pa.array(table.classes, type=pa.string())
    for name, values in table.columns.items():
        arrays[name] = pa.array(values, type=pa.float64())
    arrow_table = pa.table(arrays).replace_schema_metadata(
        {f"flowtime.{k}": v for k, v in metadata.items()})
    return _write_columnar(arrow_table, fmt)


def export_metadata(record: Any) -> dict[str, str]:
    """What identifies the exported run (schema metadata of Parquet/Arrow, JSON header)."""
    return {"runId": record.run_id, "templateId": record.template_id,
            "modelHash": record.model_hash, "scenarioHash": record.scenario_hash,
            "provenanceHash": record.provenance_hash}


def export_run(queries: Any, run_id: str, fmt: str, with_classes: bool = False) -> bytes:
    if fmt not in FORMATS:
        raise FlowTimeError(ErrorKind.INVALID, f"unknown format '{fmt}'", [
            Problem("format", f"must be one of {', '.join(FORMATS)}")])
    record = queries.get_run(run_id)
    return encode_table(queries.export_table(run_id, with_classes), fmt,
                        export_metadata(record))


def encode_records(table: RecordTable, fmt: str, metadata: dict[str, str]) -> bytes:
    """A table of mixed columns: CSV (empty cells for None), JSON (`{metadata, rows}`),
    Parquet/Arrow (types inferred per column by pyarrow, metadata in the schema)."""
    names = list(table.columns)
    if fmt == "csv":
        lines = [",".join(names)]
        for row in range(table.rows):
            lines.append(",".join(_cell(table.columns[n][row]) for n in names))
        return ("\n".join(lines) + "\n").encode("utf-8")
    if fmt == "json":
        rows = [{n: _json_value(table.columns[n][row]) for n in names}
                for row in range(table.rows)]
        return json.dumps({"metadata": metadata, "rows": rows}, allow_nan=False).encode("utf-8")
    if fmt in ("parquet", "arrow"):
        pa = _pyarrow(fmt)
        arrow_table = pa.table({n: _column(pa, table.columns[n]) for n in names})
        return _write_columnar(arrow_table.replace_schema_metadata(
            {f"flowtime.{k}": v for k, v in metadata.items()}), fmt)
    raise FlowTimeError(ErrorKind.INVALID, f"unknown format '{fmt}'", [
        Problem("format", f"must be one of {', '.join(FORMATS)}")])


def _column(pa: Any, values: list[Any]) -> Any:
    """A typed column (pyarrow infers it); mixed types fall back to text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_value(value)
    text = str(value)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def export_sweep(sweeps: Any, sweep_id: str, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise FlowTimeError(ErrorKind.INVALID, f"unknown format '{fmt}'", [
            Problem("format", f"must be one of {', '.join(FORMATS)}")])
    summary = sweeps.get(sweep_id)
    metadata = {"sweepId": summary.sweep_id, "templateId": summary.template_id,
                "status": summary.status}
    return encode_records(sweep_table(summary), fmt, metadata)
