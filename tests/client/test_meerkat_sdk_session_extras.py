"""The unmodified upstream SDK drives the session-family extras: ``Session.inject_context``, ``Session.fork_at``,
``export_session_atif``, ``Session.peers``/``client.peers``, ``list_realms``/``get_realm``; and surfaces the
methods mobkat declines (``ask_help``, ``list_skills``) as a clear ``MeerkatError``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from meerkat import MeerkatClient, MeerkatError
from meerkat.types import ForkCacheInheritanceUnavailable

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_injects_context_forks_exports_and_lists_peers_and_realms(tmp_path: Path) -> None:
    asyncio.run(_drive(tmp_path))


async def _drive(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk", state_root=str(tmp_path / "state"))
    try:
        session = await client.create_session("hello", model="gpt-5.5")
        assert await session.inject_context("The user is Ada.", source="crm", idempotency_key="k1") == {
            "status": "applied"}
        assert await session.inject_context("The user is Ada.", source="crm", idempotency_key="k1") == {
            "status": "duplicate"}
        with pytest.raises(MeerkatError) as clash:
            await session.inject_context("The user is Bob.", source="crm", idempotency_key="k1")
        assert clash.value.code == "-32602" and "already used" in clash.value.message
        await session.turn("who am I?")
        history = await client.read_session_history(session.id)
        assert [m.role for m in history.messages] == ["user", "block_assistant", "system", "user", "block_assistant"]

        fork = await session.fork_at(3)
        assert fork.source_session_id == session.id and fork.session_id != session.id and fork.message_count == 3
        assert isinstance(fork.cache_inheritance, ForkCacheInheritanceUnavailable)
        forked = await client.read_session_history(fork.session_id)
        assert [m.role for m in forked.messages] == ["user", "block_assistant", "system"]

        atif = await client.export_session_atif(session.id, agent_name="sdk-test")
        assert atif["schema_version"] == "ATIF-v1.4" and atif["agent"]["name"] == "sdk-test"
        assert [s["source"] for s in atif["steps"]] == ["user", "agent", "system", "user", "agent"]

        assert await session.peers() == []  # not a mob member: no comms peers
        mob = await client.create_mob(definition={"id": "desk", "profiles": {"editor": TEXT, "fact": TEXT}})
        await mob.spawn(profile="editor", agent_identity="editor")
        await mob.spawn(profile="fact", agent_identity="fact")
        await mob.wire("editor", "fact")
        member_sessions = [s.session_id for s in await client.list_sessions()
                           if s.session_id not in (session.id, fork.session_id)]
        assert len(member_sessions) == 2  # the two members' sessions
        seen = sorted([p["name"] for sid in member_sessions for p in (await client.peers(sid))["peers"]])
        assert seen == ["desk/editor/editor", "desk/fact/fact"]  # each member sees the other

        realms = await client.list_realms()
        assert [r["realm_id"] for r in realms] == ["sdk"] and realms[0]["backend_count"] == 1
        realm = await client.get_realm("sdk")
        assert realm["current"] is True and realm["session_count"] >= 2

        with pytest.raises(MeerkatError) as declined:
            await client.ask_help("how do I fork a session?")
        assert declined.value.code == "-32020"
        assert declined.value.message.startswith("help/ask is not supported by mobkat: ")
        with pytest.raises(MeerkatError) as skills:
            await client.list_skills()
        assert skills.value.code == "-32020" and "skills are declared in mob definitions" in skills.value.message
    finally:
        await client.close()
