"""Params and results of the ``mob/*`` methods: re-exported from :mod:`mobkat.wire.mob` (shared with the client)."""

from mobkat.wire.mob import *  # noqa: F403
