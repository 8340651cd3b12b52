"""Celery tasks: routing."""
