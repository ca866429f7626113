"""latency_db."""
