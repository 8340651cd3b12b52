"""Celery tasks: finetune."""
