"""Celery tasks: thin wrappers that pass ids and call service functions."""
