"""``--web [ADDR]``: where the console listens (``HOST:PORT``, ``:PORT``, ``PORT`` or ``HOST``)."""

from __future__ import annotations

import argparse

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 0  # a free port, printed in the URL


def parse_web_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8765"`` → ``("127.0.0.1", 8765)``; an IPv6 host goes in brackets: ``[::1]:8765``.
    A missing host is 127.0.0.1, a missing port 0 (any free one). argparse reports a bad value."""
    value = text.strip()
    host, port_text = DEFAULT_HOST, ""
    if value.startswith("["):
        inner, _, rest = value[1:].partition("]")
        host, port_text = inner, rest.removeprefix(":")
    elif value.count(":") == 1:
        head, _, port_text = value.partition(":")
        host = head or DEFAULT_HOST
    elif value.isdigit():
        port_text = value
    elif value:
        host = value
    if not host:
        raise argparse.ArgumentTypeError(f"{text!r}: no host (expected HOST:PORT, :PORT, PORT or HOST)")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or int(port_text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: port must be a number from 0 to 65535 (0 picks a free one)")
    return host, int(port_text)
