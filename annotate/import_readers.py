"""File readers for imports: JSONL, CSV and Parquet, each yielding (where, row) where `where` is how
a person finds the row again: "line 17" (JSONL; CSV with the header as line 1) or "row index 16"
(Parquet, 0-based as pandas and pyarrow show it).

JSONL and CSV may be compressed (`.gz`, `.zst`); they are decompressed while they are read, never
whole. A row that cannot be read (invalid JSON or UTF-8 on its line, too many CSV cells) is yielded
as a `FieldError` in place of the row, so the importer can report every bad row in one pass; a
problem that leaves the rest of the file unreadable (a corrupt compressed stream, malformed CSV
quoting) raises `ReadError`.
"""

import csv
import gzip
import io
import os
import sys
import zlib

import zstandard

from annotate.import_values import DuplicateKey, FieldError, loads

FORMATS = ("jsonl", "csv", "parquet")
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_STREAM_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class ReadError(ValueError):
    def __init__(self, where, message):
        super().__init__(message)
        self.where = where
        self.message = message


def detect_compression(name):
    """ "gzip", "zstd" or None, from the file name's last extension."""
    return COMPRESSIONS.get(os.path.splitext(name.lower())[1])


def detect_format(name):
    base = name.lower()
    if detect_compression(base):
        base = os.path.splitext(base)[0]
    ext = os.path.splitext(base)[1]
    if ext not in _EXTENSIONS:
        raise ReadError(
            None,
            f"cannot tell the file format from {ext or 'no extension'!r}; use .jsonl, .csv or .parquet "
            "(.jsonl and .csv may end in .gz or .zst)",
        )
    return _EXTENSIONS[ext]


def _decompressed(fileobj, compression):
    if compression == "gzip":
        return gzip.GzipFile(fileobj=fileobj, mode="rb")
    if compression == "zstd":
        return io.BufferedReader(_ZstdStream(fileobj))
    raise ReadError(None, f"unknown compression {compression!r}; expected gzip or zstd")


class _ZstdStream(io.RawIOBase):
    """zstd frames decompressed as they are read. A file that ends inside a frame is an error:
    zstandard's own stream_reader stops there silently, which would drop the rest of a cut file."""

    CHUNK = 128 * 1024

    def __init__(self, raw):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None  # the decompressor of the frame being read, None between frames
        self._out, self._at = b"", 0

    def readable(self):
        return True

    def readinto(self, buffer):
        while self._at >= len(self._out):
            data = self._raw.read(self.CHUNK)
            if not data:
                if self._frame is not None:
                    raise zstandard.ZstdError("the file ends in the middle of a zstd frame (cut short?)")
                return 0
            self._out, self._at = self._decompress(data), 0
        n = min(len(buffer), len(self._out) - self._at)
        buffer[:n] = memoryview(self._out)[self._at : self._at + n]
        self._at += n
        return n

    def _decompress(self, data):
        out = []
        while data:
            if self._frame is None:
                self._frame = self._dctx.decompressobj()
            out.append(self._frame.decompress(data))
            data = b""
            if self._frame.eof:  # a file may hold several frames, one after another
                data, self._frame = self._frame.unused_data, None
        return b"".join(out)


class Source:
    """An opened import file: its columns (as seen in the header or first readable row) and its rows."""

    def __init__(self, fileobj, fmt, compression=None):
        self.fmt = fmt
        self.columns = None
        if compression and fmt == "parquet":
            raise ReadError(None, "Parquet is compressed inside already; import the .parquet file itself")
        self._file = _decompressed(fileobj, compression) if compression else fileobj
        if fmt == "jsonl":
            rows = self._jsonl()
        elif fmt == "csv":
            rows = self._csv()
        elif fmt == "parquet":
            rows = self._parquet()
        else:
            raise ReadError(None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self._rows = self._guarded(rows) if compression else rows
        # Rows up to the first readable one: its keys are the columns when the format has no header.
        self._head = []
        for where, row in self._rows:
            self._head.append((where, row))
            if not isinstance(row, FieldError):
                break
        if not self._head:
            raise ReadError(None, "the file has no rows")
        if self.columns is None and not isinstance(self._head[-1][1], FieldError):
            self.columns = list(self._head[-1][1].keys())

    def __iter__(self):
        head, self._head = self._head, []
        yield from head
        yield from self._rows

    def _guarded(self, rows):
        where = None
        try:
            for where, row in rows:
                yield where, row
        except _STREAM_ERRORS as exc:
            raise ReadError(f"after {where}" if where else None, f"cannot decompress the file ({exc})") from None

    def _jsonl(self):
        lines = iter(self._file)
        for number, raw in enumerate(lines, start=1):
            where = f"line {number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8") if isinstance(raw, bytes) else raw
            except UnicodeDecodeError as exc:
                yield where, FieldError(None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if not line.strip():
                continue
            if number == 1 and line.lstrip().startswith("["):
                yield from self._json_array(line, lines)
                return
            try:
                row = loads(line)
            except DuplicateKey as exc:
                yield where, FieldError(exc.key, "the key appears twice in one JSON object")
                continue
            except RecursionError:
                yield where, FieldError(None, "JSON nested too deeply (about 1,000 levels or more)")
                continue
            except ValueError as exc:
                yield where, FieldError(None, f"invalid JSON ({exc})")
                continue
            if not isinstance(row, dict):
                yield where, FieldError(None, "expected a JSON object per line")
                continue
            yield where, row

    def _json_array(self, first, rest):
        """A .json file holding one array of objects (what many tools write) instead of JSON lines;
        rows are then named by their 0-based index in the array. Read whole: use JSONL for big files."""
        raw = first.encode() + b"".join(r if isinstance(r, bytes) else r.encode() for r in rest)
        try:
            rows = loads(raw.decode("utf-8"))
        except DuplicateKey as exc:
            raise ReadError(None, f"a JSON object has the key {exc.key!r} twice") from None
        except RecursionError:
            raise ReadError(None, "JSON nested too deeply (about 1,000 levels or more)") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReadError(None, f"starts with '[' but is not a valid JSON array ({exc})") from None
        if not isinstance(rows, list):
            raise ReadError(None, "expected a JSON array of objects or one JSON object per line")
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                yield f"array index {index}", FieldError(None, "expected a JSON object")
                continue
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
            seen = set()
            for name in header:
                if name in seen:
                    raise ReadError("line 1", f"the header names the column {name!r} twice")
                seen.add(name)
            self.columns = header
            line = reader.line_num
            for cells in reader:
                start, line = line + 1, reader.line_num
                if not cells or cells == [""]:
                    continue
                if len(cells) > len(header):
                    yield (
                        f"line {start}",
                        FieldError(None, f"{len(cells)} cells but the header names {len(header)} columns"),
                    )
                    continue
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
    return (
        isinstance(f, (io.BufferedIOBase, io.RawIOBase))
        or "b" in getattr(f, "mode", "b")
        and not isinstance(f, io.TextIOBase)
    )
