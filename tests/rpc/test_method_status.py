"""docs/rpc.md's upstream-method → mobkat-status table matches the live registry of a real server.

The table is generated (``render_status_table``); when a method is added, this test fails and prints the
block to paste into docs/rpc.md, or rewrite it in place with ``python -m tests.rpc.test_method_status``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mobkat.rpc.upstream_methods import (
    ALL_UPSTREAM,
    STATUS_BEGIN,
    STATUS_END,
    UNSUPPORTED,
    UPSTREAM_METHODS,
    render_status_table,
)
from tests.rpc.helpers import RawRpc

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rpc.md"


def _documented() -> str:
    text = DOCS.read_text()
    assert text.count(STATUS_BEGIN) == 1 and text.count(STATUS_END) == 1, "docs/rpc.md lost its status markers"
    return text[text.index(STATUS_BEGIN):text.index(STATUS_END) + len(STATUS_END)]


def test_the_inventory_is_upstreams_169_methods_each_once() -> None:
    listed = [m for methods in UPSTREAM_METHODS.values() for m in methods]
    assert len(listed) == len(ALL_UPSTREAM) == 169
    assert set(UNSUPPORTED) <= ALL_UPSTREAM


def test_the_status_table_in_docs_matches_the_registry_of_a_running_server() -> None:
    methods, refusals = asyncio.run(_registry())
    registered = set(methods)
    assert not registered - ALL_UPSTREAM, f"registered methods upstream does not have: {registered - ALL_UPSTREAM}"
    assert not registered & set(UNSUPPORTED), "a method is both registered and declared unsupported"
    expected = render_status_table(registered)
    assert _documented() == expected, (
        f"docs/rpc.md's method status is stale: run python -m tests.rpc.test_method_status, or paste:\n{expected}")
    rows = [line for line in expected.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == 169
    assert refusals == {m: -32020 for m in UNSUPPORTED}  # every declined method answers the typed refusal


async def _registry() -> tuple[list[str], dict[str, int]]:
    rpc = await RawRpc.start("--simulator", "--live-ws", "127.0.0.1:0", "--isolated", "--realm-backend", "memory")
    try:
        methods: list[str] = (await rpc.result("initialize", {}))["methods"]
        refusals = {}
        for method in UNSUPPORTED:
            refusals[method] = (await rpc.call(method, {}))["error"]["code"]
        return methods, refusals
    finally:
        assert await rpc.close() == 0


if __name__ == "__main__":  # rewrite docs/rpc.md's block from a running server's registry
    names, _ = asyncio.run(_registry())
    DOCS.write_text(DOCS.read_text().replace(_documented(), render_status_table(set(names))))
    print(f"docs/rpc.md: method status rewritten ({len(names)} registered methods)")
