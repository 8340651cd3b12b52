"""Writing import files in each format for the import tests."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq


def write(path, rows, fmt=None):
    """Write `rows` (dicts) to `path` as JSONL, CSV (lists/objects as JSON text) or Parquet."""
    fmt = fmt or path.suffix.lstrip(".")
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif fmt == "csv":
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in columns])
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(fmt)
    return path


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
