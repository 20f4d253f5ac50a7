"""The service: daemon loop, metrics and health server, structured logs, the journal."""
