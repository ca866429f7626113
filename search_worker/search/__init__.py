"""Latency-constrained architecture search: distribution, estimators, losses, search loop."""
