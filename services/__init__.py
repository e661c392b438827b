"""Services: add-on providers (PostgreSQL, Redis) behind an Open-Service-Broker-shaped interface."""
