"""Celery tasks: edits."""
