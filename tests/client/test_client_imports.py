"""The client SDK imports the wire contract (mobkat.wire), never the server, sessions, providers or the store."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mobkat.rpc", "mobkat.session", "openai", "mobkat.store", "mobkat.providers")


def test_import_mobkat_client_loads_no_server_code() -> None:
    code = f"import mobkat.client, sys; print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_server_modules_reexport_the_shared_wire_shapes() -> None:
    from mobkat.rpc import mob_params, params
    from mobkat.wire import mob, session

    assert params.CreateSessionParams is session.CreateSessionParams
    assert mob_params.SpawnSpec is mob.SpawnSpec
