"""annotate.rows reads instances from hand-written SQL exactly as the ORM would."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from psycopg.sql import SQL

from annotate import queue
from annotate.models import Annotation, Assignment, Item, Project, Response
from annotate.rows import reader, table, text
from tests import factories

pytestmark = pytest.mark.django_db


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _read(model, pk):
    r = reader(model, "t")
    with connection.cursor() as cursor:
        cursor.execute(text(SQL("SELECT {} FROM {} t WHERE t.id = %s").format(r.columns, table(model))), [pk])
        return r.read(cursor.fetchone())


def test_every_field_type_reads_back_as_the_orm_reads_it(project):
    item = factories.item(
        project,
        kind="pairwise",
        metadata={"source": "x", "n": [1, 2.5, None]},
        is_gold=True,
        gold_answer={"preference": -2},
    )
    ann = queue.human_annotator(factories.user(project=project))
    annotation = Annotation.objects.create(
        item=item,
        annotator=ann,
        kind="pairwise",
        preference=-2,
        aspect_ratings={"helpfulness": {"a": 5}},
        swapped=True,
        submission_id=uuid.uuid4(),
        time_spent_ms=1234,
        details={"gold_correct": True},
        confidence=0.25,
    )
    lease = Assignment.objects.create(
        item=item,
        annotator=ann,
        leased_until=timezone.now() + timedelta(minutes=3),
        draft={"rationale": "half"},
        swapped=True,
    )
    for model, pk in ((Annotation, annotation.pk), (Assignment, lease.pk), (Item, item.pk), (Project, project.pk)):
        read, orm = _read(model, pk), model.objects.get(pk=pk)
        assert _fields(read) == _fields(orm), model.__name__
        assert read._state.adding is False and read._state.db == "default"
    read = _read(Annotation, annotation.pk)
    assert isinstance(read.submission_id, uuid.UUID) and read.swapped is True
    assert read.created_at.tzinfo is not None  # aware, on SQLite too


def test_a_left_join_that_matched_nothing_reads_as_none(project):
    item = factories.item(project, kind="binary")
    r = reader(Response, "rb")
    with connection.cursor() as cursor:
        cursor.execute(
            text(
                SQL("SELECT {} FROM {} i LEFT JOIN {} rb ON rb.id = i.response_b_id WHERE i.id = %s").format(
                    r.columns, table(Item), table(Response)
                )
            ),
            [item.pk],
        )
        assert r.read(cursor.fetchone()) is None


def test_instances_read_from_sql_save_like_orm_ones(project):
    lease = Assignment.objects.create(
        item=factories.item(project),
        annotator=queue.human_annotator(factories.user(project=project)),
        leased_until=timezone.now() + timedelta(minutes=3),
    )
    read = _read(Assignment, lease.pk)
    read.draft = {"rationale": "kept"}
    read.save(update_fields=["draft"])
    assert Assignment.objects.get(pk=lease.pk).draft == {"rationale": "kept"}
