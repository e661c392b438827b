"""The route table: host -> app -> instances, and its sync from Redis."""
