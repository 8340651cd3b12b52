"""Celery tasks: rationales."""
