"""Routing re-runs as labels arrive: a celery-beat entry that re-routes every project with enough new
human labels since its last routing run (workers.tasks.routing.reroute_stale_projects)."""
from django.db import migrations

TASK = "workers.tasks.routing.reroute_stale_projects"
NAME = "Re-route projects as human labels arrive"


def add(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": TASK, "interval": every, "kwargs": '{"min_new_labels": 50}'})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(add, remove)]
