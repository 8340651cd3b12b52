"""Fast bulk writes for imports: ids handed out up front, rows streamed with COPY on PostgreSQL
(psycopg 3 `cursor.copy`) and executemany on SQLite. Callers run inside one transaction.

Rows are tuples in the order of the field names given; every other concrete field gets its model
default, so fields added to a model later still get sensible values. Statements are composed
with `psycopg.sql` (tables and columns as `Identifier`s), on SQLite too.
"""

import json

from django.db import connection
from django.db.models import DateField, DateTimeField, JSONField, UUIDField
from django.utils import timezone
from psycopg.sql import SQL, Identifier, Placeholder

SQLITE_BATCH = 5000


class IdPool:
    """Primary keys allocated in blocks before the rows exist, so rows can reference each other.

    PostgreSQL: from the table's own sequence (safe alongside concurrent inserts; gaps are fine).
    SQLite: counting up from the highest id ever used; the caller must hold the write lock.
    """

    def __init__(self, model, block=10_000):
        self.table = model._meta.db_table
        self.column = model._meta.pk.column
        self.block = block
        self._ids = iter(())
        self._next_sqlite = None

    def __next__(self):
        try:
            return next(self._ids)
        except StopIteration:
            self._ids = iter(self._allocate(self.block))
            return next(self._ids)

    def _allocate(self, n):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [self.table, self.column, n],
                )
                return [row[0] for row in cursor.fetchall()]
            if self._next_sqlite is None:
                highest_id = SQL("SELECT COALESCE(MAX({}), 0) FROM {}").format(
                    Identifier(self.column), Identifier(self.table)
                )
                cursor.execute(highest_id.as_string(None))
                highest = cursor.fetchone()[0]
                cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
                if cursor.fetchone():
                    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [self.table])
                    row = cursor.fetchone()
                    highest = max(highest, row[0] if row else 0)
                self._next_sqlite = highest + 1
            start, self._next_sqlite = self._next_sqlite, self._next_sqlite + n
            return range(start, start + n)


def _converter(field):
    """Python value → what the driver takes, only for the types that need it."""
    if connection.vendor == "postgresql":
        if isinstance(field, JSONField):

            def dump(value, encoder=field.encoder):
                if value is None:
                    return None
                if not value and isinstance(value, (dict, list)):
                    return "{}" if isinstance(value, dict) else "[]"  # most metadata is empty: skip the encoder
                return json.dumps(value, ensure_ascii=False, cls=encoder)

            return dump
        return None
    if isinstance(field, (JSONField, DateTimeField, DateField, UUIDField)):
        return lambda value: field.get_db_prep_save(value, connection)
    return None


def insert_rows(model, names, rows):
    """Insert `rows` (tuples matching `names`, attnames such as "project_id") into `model`'s table."""
    rows = list(rows)
    if not rows:
        return 0
    given = [model._meta.get_field(name) for name in names]
    given_attnames = {f.attname for f in given}
    now = timezone.now()
    fixed, per_row = [], []
    for f in model._meta.concrete_fields:
        if f.attname in given_attnames or f.primary_key or (f.has_db_default() and not f.has_default()):
            continue  # left to the database: a primary key not given, a db_default
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            fixed.append((f, now))
        elif f.has_default() and callable(f.default) and not isinstance(f, JSONField):
            per_row.append(f)  # e.g. uuid4; a JSON default (dict, list) is converted once and shared as text
        else:
            fixed.append((f, f.get_default()))
    fields = given + [f for f, _ in fixed] + per_row
    fixed_values = tuple(c(value) if (c := _converter(f)) else value for f, value in fixed)  # converted once
    row_converters = [_converter(f) for f in given + per_row]
    n_given = len(given)

    def complete(row):
        values = tuple(row) + tuple(f.get_default() for f in per_row)
        values = tuple(c(x) if c else x for c, x in zip(row_converters, values))
        return values[:n_given] + fixed_values + values[n_given:]

    table, columns = Identifier(model._meta.db_table), SQL(", ").join(Identifier(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # cursor.copy is psycopg's own: without the wrapper its errors would not be Django's
            # DatabaseError, and would escape the callers' handlers.
            copy_in = SQL("COPY {} ({}) FROM STDIN").format(table, columns)
            with connection.wrap_database_errors, cursor.copy(copy_in) as copy:
                for row in rows:
                    copy.write_row(complete(row))
        else:
            marks = SQL(", ").join([Placeholder()] * len(fields))
            sql = SQL("INSERT INTO {} ({}) VALUES ({})").format(table, columns, marks).as_string(None)
            for start in range(0, len(rows), SQLITE_BATCH):
                cursor.executemany(sql, [complete(row) for row in rows[start : start + SQLITE_BATCH]])
    return len(rows)
