"""Celery tasks: generation."""
