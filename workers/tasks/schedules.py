"""Celery tasks: schedules."""
