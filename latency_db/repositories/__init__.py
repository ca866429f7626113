"""Repository functions, one module per topic, in the ``(*, session, ...)`` style.

They flush but never commit: the request or task that calls them owns the transaction.
Failures are ``latency_db.errors`` exceptions; bad input changes nothing.
"""
