"""Keep API keys out of logs: the websockets/HTTP client libraries log handshake headers at DEBUG."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(Bearer\s+|api[-_]key[\"'=:\s]+)[A-Za-z0-9._\-]{6,}", re.IGNORECASE)
_LOGGERS = ("websockets", "websockets.client", "openai", "httpx", "httpcore", "httpx2", "httpcore2")


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with bearer tokens and API keys replaced by ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Attach the filter to the client libraries' loggers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
