"""manage.py import_items <project> <file> [--shape …] [--source …] [--as edit]"""
from django.core.management.base import BaseCommand, CommandError

from annotate.import_readers import FORMATS
from annotate.import_shapes import SHAPES
from annotate.imports import ImportFileError, import_items
from annotate.models import Project


class Command(BaseCommand):
    help = "Import prompts, responses and existing labels from JSONL, CSV or Parquet into a project (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project name or id")
        parser.add_argument("file", help="a .jsonl, .csv or .parquet file")
        parser.add_argument("--shape", choices=SHAPES, help="row shape; detected from the columns when left out")
        parser.add_argument("--format", choices=FORMATS, help="file format; taken from the extension when left out")
        parser.add_argument("--source", help="name of the source whose labels the file holds (default: the file name)")
        parser.add_argument("--as", dest="as_kind", choices=["binary", "edit"], help="make prompt/response rows into this kind of item")
        parser.add_argument("--create", action="store_true", help="create the project if it does not exist")
        parser.add_argument("--dry-run", action="store_true", help="check the file and count what would be imported; write nothing")

    def handle(self, *args, project, file, shape, format, source, as_kind, create, dry_run, **options):
        lookup = {"pk": int(project)} if project.isdigit() else {"name": project}
        try:
            target = Project.objects.get(**lookup)
        except Project.DoesNotExist:
            if not create or "name" not in lookup or dry_run:
                raise CommandError(f"no project {project!r} (pass --create to make it)") from None
            target = Project.objects.create(name=project)
        try:
            result = import_items(target, file, fmt=format, shape=shape, source=source, as_kind=as_kind, dry_run=dry_run)
        except FileNotFoundError:
            raise CommandError(f"no such file: {file}") from None
        except ImportFileError as exc:
            raise CommandError(f"{exc}\nNothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(result.summary()))
