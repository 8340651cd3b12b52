"""manage.py export_snapshot <project> [--snapshot-version N] [--format preference] [--split train|test]
[--file-type jsonl|parquet] [--engine copy|python] [--output PATH]

The command-line twin of the REST export (curation/views/export_api.py): the same formats and
file types, from the same registries in curation/formats.py."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from curation.formats import FILE_TYPES, FORMATS, can_copy
from curation.models import Snapshot, Split


class Command(BaseCommand):
    help = "Write a project's snapshot (the latest unless --snapshot-version) in one of the TRL formats, as JSONL or Parquet."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name or id")
        parser.add_argument(
            "--snapshot-version", dest="snapshot_version", type=int, help="snapshot version (default: the latest)"
        )
        parser.add_argument("--format", dest="fmt", choices=list(FORMATS), default="preference")
        parser.add_argument("--split", choices=Split.values, help="train or test (default: both)")
        parser.add_argument(
            "--file-type", choices=list(FILE_TYPES), help="default: from --output's extension, else jsonl"
        )
        parser.add_argument("--engine", choices=["copy", "python"], help="default: copy on PostgreSQL, else python")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, project, snapshot_version, fmt, split, file_type, engine, output, **options):
        lookup = {"pk": int(project)} if project.isdigit() else {"name": project}
        target = Project.objects.filter(**lookup).first()
        if target is None:
            raise CommandError(f"no project {project!r}")
        snapshots = Snapshot.objects.filter(project=target).order_by("-version")
        snapshot = (snapshots.filter(version=snapshot_version) if snapshot_version else snapshots).first()
        if snapshot is None:
            raise CommandError(
                f"project {target.name!r} has no snapshot"
                + (f" version {snapshot_version}" if snapshot_version else "")
            )
        suffix = Path(output).suffix.lstrip(".") if output else ""
        kind = FILE_TYPES[file_type or (suffix if suffix in FILE_TYPES else "jsonl")]
        engine = engine or ("copy" if can_copy(fmt) else "python")
        if engine == "copy" and not can_copy(fmt):
            raise CommandError("engine copy needs PostgreSQL")
        if output:
            with open(output, "wb") as out:
                kind.write(snapshot, fmt, out, split=split, engine=engine)
        elif kind.streams:
            kind.write(snapshot, fmt, sys.stdout.buffer, split=split, engine=engine)
        else:
            raise CommandError(f"{kind.key} is written to a file: pass --output")
