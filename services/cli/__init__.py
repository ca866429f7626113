"""The ``hwnas`` command line."""
