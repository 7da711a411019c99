"""Params and results of the RPC methods: re-exported from :mod:`mobkat.wire.session` (shared with the client)."""

from mobkat.wire.session import *  # noqa: F403
