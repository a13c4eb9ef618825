"""Writes examples/quickstart.ipynb (run it again after changing the cells below)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# flowtime in a notebook

Run a shipped template, read its series as a pandas DataFrame, compare two scenarios,
sweep a parameter grid and query the exported Parquet with DuckDB. Everything lands in a
scratch store created below (set `store=` to your own folder or S3 URL instead).

Needs the `pandas` and `arrow` extras (`pip install 'flowtime[pandas,arrow]'`) and duckdb."""),
    new_code_cell("""import tempfile

import flowtime

store = tempfile.mkdtemp(prefix="flowtime-notebook-")
base = flowtime.run("it-system", params={"billingCapacity": 40}, seed=1, store=store)
base"""),
    new_markdown_cell("Every series as one DataFrame, indexed by each bin's start time (UTC):"),
    new_code_cell("""frame = base.series()
frame[["accepted", "billed", "billingBacklog"]].head()"""),
    new_markdown_cell("A second scenario with more billing capacity, side by side with the first:"),
    new_code_cell("""more = flowtime.run("it-system", params={"billingCapacity": 60}, seed=1, store=store)
backlog = frame[["billingBacklog"]].rename(columns={"billingBacklog": "capacity 40"})
backlog["capacity 60"] = more.series()["billingBacklog"]
assert backlog["capacity 60"].sum() <= backlog["capacity 40"].sum()
backlog.describe().loc[["mean", "max"]]"""),
    new_markdown_cell("A small sweep: every point is an ordinary run, reused if it exists."),
    new_code_cell("""summary = flowtime.sweep("it-system", grid={"billingCapacity": [30, 40, 50, 60]},
                         store=store)
assert summary["status"] == "succeeded"
backlog_id = "billingBacklog@BILLINGBACKLOG@DEFAULT"  # aggregates are keyed by series id
[(r["parameters"]["billingCapacity"], round(r["aggregates"][backlog_id]["max"], 1))
 for r in summary["runs"]]"""),
    new_markdown_cell("The sweep as a Parquet table, queried with DuckDB:"),
    new_code_cell("""import os

import duckdb

from flowtime.adapters.export import encode_records
from flowtime.domain.artifacts.codec import SweepJson
from flowtime.domain.artifacts.export import sweep_table
import msgspec

path = os.path.join(store, "sweep.parquet")
table = sweep_table(msgspec.convert(summary, SweepJson))
with open(path, "wb") as handle:
    handle.write(encode_records(table, "parquet", {"sweepId": summary["sweepId"]}))
duckdb.sql(f\"\"\"select "param.billingCapacity" as capacity,
                      "{backlog_id}.max" as worst_backlog
               from '{path}' order by capacity\"\"\").df()"""),
]
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": KERNEL}), "examples/quickstart.ipynb")
