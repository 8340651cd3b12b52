"""File readers for imports: JSONL, CSV and Parquet, each yielding (where, row) where `where` is how
a person finds the row again: "line 17" (JSONL; CSV with the header as line 1) or "row index 16"
(Parquet, 0-based as pandas and pyarrow show it)."""
import csv
import io
import json
import os
import sys

FORMATS = ("jsonl", "csv", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class ReadError(ValueError):
    def __init__(self, where, message):
        super().__init__(message)
        self.where = where
        self.message = message


def detect_format(name):
    ext = os.path.splitext(name.lower())[1]
    if ext not in _EXTENSIONS:
        raise ReadError(None, f"cannot tell the file format from {ext or 'no extension'!r}; use .jsonl, .csv or .parquet")
    return _EXTENSIONS[ext]


class Source:
    """An opened import file: its columns (as seen in the header or first row) and its rows."""

    def __init__(self, fileobj, fmt):
        self.fmt = fmt
        self._file = fileobj
        if fmt == "jsonl":
            self._rows = self._jsonl()
        elif fmt == "csv":
            self._rows = self._csv()
        elif fmt == "parquet":
            self._rows = self._parquet()
        else:
            raise ReadError(None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self._first = next(self._rows, None)
        if self._first is None:
            raise ReadError(None, "the file has no rows")
        if not hasattr(self, "columns"):
            self.columns = list(self._first[1].keys())

    def __iter__(self):
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._rows

    def _jsonl(self):
        lines = iter(self._file)
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8") if isinstance(raw, bytes) else raw
            except UnicodeDecodeError as exc:
                raise ReadError(f"line {number}", f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            if number == 1 and line.lstrip().startswith("["):
                yield from self._json_array(line, lines)
                return
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ReadError(f"line {number}", f"invalid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ReadError(f"line {number}", "expected a JSON object per line")
            yield f"line {number}", row

    def _json_array(self, first, rest):
        """A .json file holding one array of objects (what many tools write) instead of JSON lines;
        rows are then named by their 0-based index in the array."""
        raw = first.encode() + b"".join(r if isinstance(r, bytes) else r.encode() for r in rest)
        try:
            rows = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReadError(None, f"starts with '[' but is not a valid JSON array ({exc})") from None
        if not isinstance(rows, list):
            raise ReadError(None, "expected a JSON array of objects or one JSON object per line")
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ReadError(f"array index {index}", "expected a JSON object")
            yield f"array index {index}", row

    def _csv(self):
        text = io.TextIOWrapper(self._file, encoding="utf-8-sig", newline="") if _is_binary(self._file) else self._file
        reader = csv.reader(text)
        line = 0
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip() for h in header]
            self.columns = header
            line = reader.line_num
            for cells in reader:
                start, line = line + 1, reader.line_num
                if not cells or cells == [""]:
                    continue
                if len(cells) > len(header):
                    raise ReadError(f"line {start}", f"{len(cells)} cells but the header names {len(header)} columns")
                yield f"line {start}", dict(zip(header, cells))
        except UnicodeDecodeError as exc:
            raise ReadError(f"line {line + 1}", f"not valid UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            raise ReadError(f"line {line + 1}", f"malformed CSV ({exc})") from None
        finally:
            if text is not self._file:
                text.detach()

    def _parquet(self):
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self._file)
        except Exception as exc:  # pyarrow raises several error types for a file that is not Parquet
            raise ReadError(None, f"not a readable Parquet file ({exc})") from None
        self.columns = parquet.schema_arrow.names
        index = 0
        batches = parquet.iter_batches(batch_size=10_000)
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # a corrupt page: name where reading stopped
                raise ReadError(f"row index {index}", f"unreadable Parquet data ({exc})") from None
            if batch is None:
                return
            for row in batch.to_pylist():
                yield f"row index {index}", row
                index += 1


def _is_binary(f):
    return isinstance(f, (io.BufferedIOBase, io.RawIOBase)) or "b" in getattr(f, "mode", "b") and not isinstance(f, io.TextIOBase)
