"""Fault tests: real platform processes killed and restarted, asserting the platform converges."""
