"""How many examples the entry-point fuzzers run: ``MOBKAT_FUZZ_EXAMPLES`` (default 25; ``.ci/run`` sets hundreds)."""

from __future__ import annotations

import os

FUZZ_EXAMPLES = int(os.environ.get("MOBKAT_FUZZ_EXAMPLES", "25"))
