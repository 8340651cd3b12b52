"""The export formats are one registry (curation.formats.FORMATS): each format's declared columns,
kinds and row counts agree with the rows it builds, so the API, the manifest's counts, Parquet
schemas and the SQL twins cannot drift apart. (Each SQL twin's rows are compared with the Python
rows in tests/test_export_api.py.)"""

import pytest

from curation.formats import FILE_TYPES, FORMATS, UnknownFormat, arrow_schema, export_format, iter_export_rows
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(project):
    who, other = cd.person(project), cd.person(project)
    for n in range(4):
        pair = factories.item(project, text_a=f"A{n}", text_b=f"B{n}")
        cd.label(pair, who, preference=-2)
        cd.label(pair, other, preference=-1)
    cd.label(factories.item(project, kind="binary"), who, thumbs="up")
    cd.label(factories.item(project, kind="edit", text_a="old text"), who, edited_text="new text")
    for n in range(2):  # Likert rows feed the Likert kind's own formats (attributes, regression)
        rated = factories.item(project, kind="likert", text_a=f"rated answer {n}")
        cd.label(rated, who, likert_ratings=dict.fromkeys(project.aspects, 3))
    return freeze_snapshot(project, test_fraction=0.5)


def test_each_format_builds_rows_with_exactly_its_declared_columns_and_counts(snapshot):
    for key, spec in FORMATS.items():
        assert spec.key == key and export_format(key) is spec
        assert arrow_schema(key).names == [name for name, _ in spec.columns]
        for split in ("train", "test"):
            rows = list(iter_export_rows(snapshot, key, split=split))
            assert all(list(row) == [name for name, _ in spec.columns] for row in rows), key
            assert len(rows) == snapshot.counts["by_format"][key][split], (key, split)
        if key != "pluralistic":  # empty before any preference-group fit (tests/test_pluralism.py)
            assert sum(snapshot.counts["by_format"][key].values()) > 0, key
    assert snapshot.counts["by_format"].keys() == FORMATS.keys()


def test_every_format_has_a_sql_twin_but_a_kinds_own_and_an_unknown_one_is_a_clear_error():
    """The built-in formats have a SQL twin (the COPY fast path); a format a feedback kind contributes
    (Likert's attributes and regression) is rendered in Python only, also when COPY is asked for."""
    kind_formats = {"attributes", "regression"}
    assert kind_formats <= FORMATS.keys()
    assert all((spec.sql_line() is None) == (key in kind_formats) for key, spec in FORMATS.items())
    with pytest.raises(UnknownFormat, match="unknown format 'dpo'; one of preference, "):
        export_format("dpo")


def test_file_types_name_their_media_type_and_extension():
    assert {k: (t.media_type, t.extension) for k, t in FILE_TYPES.items()} == {
        "jsonl": ("application/jsonl", "jsonl"),
        "parquet": ("application/vnd.apache.parquet", "parquet"),
    }


def test_the_export_command_writes_the_api_rows(snapshot, tmp_path):
    """manage.py export_snapshot reads the same registries as the REST export."""
    import json

    import pyarrow.parquet as pq
    from django.core.management import call_command

    from curation.formats import iter_jsonl

    for fmt in FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        call_command("export_snapshot", str(snapshot.project_id), "--format", fmt, "--split", "train", "-o", str(out))
        assert out.read_bytes() == b"".join(iter_jsonl(snapshot, fmt, "train"))
    out = tmp_path / "rows.parquet"
    call_command("export_snapshot", snapshot.project.name, "--format", "unpaired", "-o", str(out), "--engine", "python")
    rows = [json.loads(x) for x in b"".join(iter_jsonl(snapshot, "unpaired")).decode().splitlines()]
    assert pq.read_table(out).to_pylist() == rows
