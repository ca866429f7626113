"""Importers of published latency data: parse and validate a whole file, then write it.

Each importer has a pure parse step (no database) and an ``import_*`` function in the
``(*, session, ...)`` style that writes through the repositories and never commits.
"""
