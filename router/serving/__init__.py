"""The asyncio edge: listening, client sessions, the proxying coroutines, instance
connection pools and restarts without a dropped request (handover)."""
