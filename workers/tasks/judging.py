"""Celery tasks: judging."""
