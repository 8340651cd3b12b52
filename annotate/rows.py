"""Model instances from one hand-written SQL join, for the annotator's hot path.

`select_related` builds and compiles its query anew on every call; on a busy server that cost
more CPU than PostgreSQL spent answering. A `Reader` writes a model's column list once, and turns
each row back into an instance with `Model.from_db` after the same converters the ORM applies
(JSON decoding, SQLite's datetimes and booleans), so the instances are the ORM's own.
"""

from functools import cache

from django.db import connection


class Reader:
    """The columns of `model` under table alias `alias`, and how to read them back."""

    def __init__(self, model, alias):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.attnames = [f.attname for f in self.fields]
        quote = connection.ops.quote_name
        self.columns = ", ".join(f"{alias}.{quote(f.column)}" for f in self.fields)
        self.width = len(self.fields)
        self.pk_index = self.attnames.index(model._meta.pk.attname)
        self.converters = []
        for n, field in enumerate(self.fields):
            col = field.get_col(alias)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if found:
                self.converters.append((n, col, found))

    def read(self, row, start=0):
        """The instance from row[start:start + width]; None for a LEFT JOIN that matched nothing."""
        values = list(row[start : start + self.width])
        if values[self.pk_index] is None:
            return None
        for n, col, converters in self.converters:
            for convert in converters:
                values[n] = convert(values[n], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


@cache
def _reader(model, alias, vendor):
    return Reader(model, alias)


def reader(model, alias):
    return _reader(model, alias, connection.vendor)


def table(model):
    return connection.ops.quote_name(model._meta.db_table)


def fetch_one(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def first(model, alias, where, params):
    """The first `model` row (table alias `alias`) matching the SQL condition `where`, or None."""
    r = reader(model, alias)
    row = fetch_one(f"SELECT {r.columns} FROM {table(model)} {alias} WHERE {where}", params)
    return None if row is None else r.read(row)
