"""Hostile-tenant tests: each attack of issue 10 replayed, asserting it fails and leaves nothing."""
