"""The browser console: ``mobkat run FILE --web`` serves a page that shows and talks to a running mob.

``Console(mob, host, port).start()`` serves it; ``.url`` carries the per-run token. docs/console.md.
"""

from mobkat.console.server import Console

__all__ = ["Console"]
