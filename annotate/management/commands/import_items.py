"""manage.py import_items <project> <file> [--shape …] [--source …] [--as edit] [--label-kind human|judge]
[--skip-invalid] [--create] [--dry-run]"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotate.import_readers import FORMATS
from annotate.import_shapes import SHAPES
from annotate.imports import ImportFileError, import_items
from annotate.models import LabelKind, Project

REPORT_LINES = 20  # skipped rows printed; the import record holds them all (up to its cap)


class _DryRun(Exception):
    """Rolls back a dry run's new project."""


class Command(BaseCommand):
    help = (
        "Import prompts, responses and existing labels from JSONL, CSV (either may be .gz or .zst) or Parquet into a project. "
        "All or nothing unless --skip-invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name or id")
        parser.add_argument(
            "file", help="a .jsonl, .csv or .parquet file; .jsonl and .csv may be gzip (.gz) or zstd (.zst) compressed"
        )
        parser.add_argument("--shape", choices=SHAPES, help="row shape; detected from the columns when left out")
        parser.add_argument("--format", choices=FORMATS, help="file format; taken from the extension when left out")
        parser.add_argument("--source", help="name of the source whose labels the file holds (default: the file name)")
        parser.add_argument(
            "--as",
            dest="as_kind",
            choices=["binary", "edit", "ranking"],
            help="make prompt/response rows into this kind of item (ranking: prompt/completions rows)",
        )
        parser.add_argument(
            "--label-kind",
            choices=LabelKind.values,
            help="who made the file's labels: judge (a model; the default for a new source) or human (people)",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the good rows and leave out the bad ones, listed in the import record (default: all or nothing)",
        )
        parser.add_argument("--create", action="store_true", help="create the project if it does not exist")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and count what would be imported; write nothing"
        )

    def handle(
        self, *args, project, file, shape, format, source, as_kind, label_kind, skip_invalid, create, dry_run, **options
    ):
        lookup = {"pk": int(project)} if project.isdigit() else {"name": project}
        try:
            with transaction.atomic():  # a new project exists only if its import succeeds for real
                target = Project.objects.filter(**lookup).first()
                if target is None:
                    if not create or "name" not in lookup:
                        raise CommandError(f"no project {project!r} (pass --create to make it)")
                    target = Project.objects.create(name=project)
                result = import_items(
                    target,
                    file,
                    fmt=format,
                    shape=shape,
                    source=source,
                    as_kind=as_kind,
                    label_kind=label_kind,
                    skip_invalid=skip_invalid,
                    dry_run=dry_run,
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        except FileNotFoundError:
            raise CommandError(f"no such file: {file}") from None
        except ImportFileError as exc:
            hint = " (--skip-invalid imports the good rows)" if exc.per_row and not skip_invalid else ""
            raise CommandError(f"{exc}\nNothing was imported{hint}.") from None
        self.stdout.write(self.style.SUCCESS(result.summary()))
        if result.invalid:
            self.stdout.write(f"Skipped {result.invalid} invalid row(s):")
            for problem in result.problems[:REPORT_LINES]:
                self.stdout.write(f"  {problem.describe(result.file)}")
            if result.invalid > REPORT_LINES:
                self.stdout.write(f"  ... the import record {result.record_id} lists {len(result.problems)} of them")
