"""What the router reports: per-request records, the access log, metrics and the admin port."""
