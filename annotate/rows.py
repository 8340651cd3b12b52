"""Model instances from one hand-written SQL join, for the annotator's hot path.

`select_related` builds and compiles its query anew on every call; on a busy server that cost
more CPU than PostgreSQL spent answering. A `Reader` writes a model's column list once, and turns
each row back into an instance with `Model.from_db` after the same converters the ORM applies
(JSON decoding, SQLite's datetimes and booleans), so the instances are the ORM's own.

Statements are composed with `psycopg.sql` (tables and columns as `Identifier`s, values as
placeholders) and rendered to text once per shape by their callers; the text is the same on
PostgreSQL and SQLite (double-quoted identifiers, `%s` placeholders that Django adapts).
"""

from functools import cache

from django.db import connection
from psycopg.sql import SQL, Composable, Identifier


class Reader:
    """The columns of `model` under table alias `alias`, and how to read them back."""

    def __init__(self, model, alias):
        self.model = model
        self.fields = model._meta.concrete_fields
        self.attnames = [f.attname for f in self.fields]
        self.columns = SQL(", ").join(Identifier(alias, f.column) for f in self.fields)
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


def table(model) -> Identifier:
    return Identifier(model._meta.db_table)


def text(query: Composable | str) -> str:
    """A composed statement as the text a Django cursor runs (no connection needed: identifiers
    and placeholders render the same on every backend)."""
    return query if isinstance(query, str) else query.as_string(None)


def fetch_one(query: Composable | str, params):
    with connection.cursor() as cursor:
        cursor.execute(text(query), params)
        return cursor.fetchone()


@cache
def _first_query(model, alias, where: str, vendor) -> str:
    return text(
        SQL("SELECT {} FROM {} {} WHERE {}").format(
            reader(model, alias).columns,
            table(model),
            Identifier(alias),
            SQL(where),
        )
    )


def first(model, alias, where: Composable, params):
    """The first `model` row (table alias `alias`) matching the SQL condition `where`, or None."""
    row = fetch_one(_first_query(model, alias, text(where), connection.vendor), params)
    return None if row is None else reader(model, alias).read(row)
