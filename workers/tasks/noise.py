"""Celery tasks: noise."""
