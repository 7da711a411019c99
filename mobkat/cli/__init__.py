"""The ``mobkat`` command line."""
