"""Encoding a run's wide table (domain/artifacts/export.py) as CSV, JSON, Parquet or Arrow.

Parquet and Arrow use pyarrow (the `arrow` extra): the columnar formats people query with
DuckDB, pandas or Spark, written by the reference implementation of Arrow rather than by
hand. Their schema metadata carries the run id and the bundle's hashes.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

from flowtime.domain.artifacts.bundle import format_value
from flowtime.domain.artifacts.export import RecordTable, WideTable, safe_text, sweep_table
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem
from flowtime.domain.modeling.grid import format_utc

FORMATS = {"csv": "text/csv", "json": "application/json",
           "parquet": "application/vnd.apache.parquet",
           "arrow": "application/vnd.apache.arrow.file"}


ROWS_PER_CHUNK = 2048  # rows encoded at a time: an export's memory is one chunk, not a file


def encode_table(table: WideTable, fmt: str, metadata: dict[str, str]) -> bytes:
    return b"".join(stream_table(table, fmt, metadata))


def stream_table(table: WideTable, fmt: str, metadata: dict[str, str]) -> Iterator[bytes]:
    """The table encoded in pieces of ROWS_PER_CHUNK rows, so a large export is sent (or
    written) as it is made and never held whole."""
    if fmt == "csv":
        return _csv(table)
    if fmt == "json":
        return _json(table, metadata)
    if fmt in ("parquet", "arrow"):
        return _columnar(table, fmt, metadata)
    raise FlowTimeError(ErrorKind.INVALID, f"unknown format '{fmt}'", [
        Problem("format", f"must be one of {', '.join(FORMATS)}")])


def _chunks(rows: int) -> Iterator[slice]:
    for start in range(0, rows, ROWS_PER_CHUNK):
        yield slice(start, min(rows, start + ROWS_PER_CHUNK))


def _csv(table: WideTable) -> Iterator[bytes]:
    names = list(table.columns)
    head = ["time", "bin", *(["class"] if table.classes else []), *names]
    yield (",".join(_quoted(safe_text(h)) for h in head) + "\n").encode("utf-8")
    for part in _chunks(table.rows):
        columns = [table.columns[n][part].tolist() for n in names]
        lines = []
        for k, row in enumerate(range(part.start, part.stop)):
            cells = [format_utc(table.times[row]), str(int(table.bins[row]))]
            if table.classes:
                cells.append(_quoted(safe_text(table.classes[row])))
            cells.extend("" if math.isnan(c[k]) and table.classes else format_value(c[k])
                         for c in columns)
            lines.append(",".join(cells))
        yield ("\n".join(lines) + "\n").encode("utf-8")


def _json_array(values: Iterator[list[Any]]) -> Iterator[str]:
    """A JSON array written piece by piece (json.dumps's own spacing)."""
    first = True
    yield "["
    for piece in values:
        if piece:
            text = json.dumps(piece, allow_nan=False)[1:-1]
            yield text if first else ", " + text
            first = False
    yield "]"


def _json(table: WideTable, metadata: dict[str, str]) -> Iterator[bytes]:
    def number(v: float) -> Any:
        return v if math.isfinite(v) else None

    def encoded(parts: Iterator[str]) -> Iterator[bytes]:
        return (p.encode("utf-8") for p in parts)

    yield ('{"metadata": ' + json.dumps(metadata) + ', "time": ').encode("utf-8")
    yield from encoded(_json_array([format_utc(t) for t in table.times[p]]
                                   for p in _chunks(table.rows)))
    yield b', "bin": '
    yield from encoded(_json_array(table.bins[p].tolist() for p in _chunks(table.rows)))
    if table.classes:
        yield b', "class": '
        assert table.classes is not None
        classes = table.classes
        yield from encoded(_json_array(classes[p] for p in _chunks(table.rows)))
    yield b', "series": {'
    for i, (name, values) in enumerate(table.columns.items()):
        yield ((", " if i else "") + json.dumps(name) + ": ").encode("utf-8")
        yield from encoded(_json_array([number(v) for v in values[p].tolist()]
                                       for p in _chunks(table.rows)))
    yield b"}}"


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


class _Drain:
    """A file-like sink whose bytes are taken out after each record batch is written."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _columnar(table: WideTable, fmt: str, metadata: dict[str, str]) -> Iterator[bytes]:
    """Record batches of ROWS_PER_CHUNK rows written as they are made (Parquet: one row
    group each; Arrow IPC file: one batch each)."""
    pa = _pyarrow(fmt)
    fields = [pa.field("time", pa.timestamp("ms", tz="UTC")), pa.field("bin", pa.int64())]
    if table.classes:
        fields.append(pa.field("class", pa.string()))
    fields.extend(pa.field(name, pa.float64()) for name in table.columns)
    schema = pa.schema(fields, metadata={f"flowtime.{k}": v for k, v in metadata.items()})
    sink = _Drain()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer: Any = pq.ParquetWriter(sink, schema)
    else:
        writer = pa.ipc.new_file(sink, schema)
    with writer:
        for part in _chunks(table.rows) if table.rows else [slice(0, 0)]:
            arrays = [pa.array(table.times[part], type=pa.timestamp("ms", tz="UTC")),
                      pa.array(table.bins[part], type=pa.int64())]
            if table.classes:
                arrays.append(pa.array(table.classes[part], type=pa.string()))
            arrays.extend(pa.array(values[part], type=pa.float64())
                          for values in table.columns.values())
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            yield sink.take()
    yield sink.take()


def export_metadata(record: Any) -> dict[str, str]:
    """What identifies the exported run (schema metadata of Parquet/Arrow, JSON header)."""
    return {"runId": record.run_id, "templateId": record.template_id,
            "modelHash": record.model_hash, "scenarioHash": record.scenario_hash,
            "provenanceHash": record.provenance_hash}


def export_run(queries: Any, run_id: str, fmt: str, with_classes: bool = False) -> bytes:
    """The run's table as one piece (small runs, tests); servers stream (`stream_run`)."""
    return b"".join(stream_run(queries, run_id, fmt, with_classes))


def stream_run(queries: Any, run_id: str, fmt: str, with_classes: bool = False,
               max_cells: int | None = None) -> Iterator[bytes]:
    """The run's table, streamed; at most `max_cells` values (rows × series) at once — the
    model budget's cells, so an export costs what creating the run did."""
    if fmt not in FORMATS:
        raise FlowTimeError(ErrorKind.INVALID, f"unknown format '{fmt}'", [
            Problem("format", f"must be one of {', '.join(FORMATS)}")])
    record = queries.get_run(run_id)
    if max_cells is not None:
        cells = queries.export_cells(run_id, with_classes)
        if cells > max_cells:
            raise FlowTimeError(ErrorKind.TOO_LARGE, "the export is too large", [Problem(
                "runId", f"{cells:,} values; at most {max_cells:,} at once "
                "(FLOWTIME_MAX_CELLS): export fewer classes or a smaller run")])
    return stream_table(queries.export_table(run_id, with_classes), fmt,
                        export_metadata(record))


def encode_records(table: RecordTable, fmt: str, metadata: dict[str, str]) -> bytes:
    """A table of mixed columns: CSV (empty cells for None), JSON (`{metadata, rows}`),
    Parquet/Arrow (types inferred per column by pyarrow, metadata in the schema)."""
    names = list(table.columns)
    if fmt == "csv":
        lines = [",".join(_cell(n) for n in names)]
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
    return _quoted(safe_text(str(value)))


def _quoted(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
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
