"""Shared test set-up: the real PostgreSQL and Redis named by DATABASE_URL / REDIS_URL."""
