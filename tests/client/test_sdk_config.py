"""The upstream Meerkat SDK's config writes (``set_config`` / ``patch_config``; meerkat-sdk 0.8.26, unmodified).

With ``--context-root`` the project file (``<root>/.mobkat/config.toml``) is written, else the user file
(``<user config root>/config.toml``); every write is validated first and bumps the generation.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest
from meerkat import MeerkatClient, MeerkatError


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_sets_and_patches_the_project_config(tmp_path: Path) -> None:
    asyncio.run(_project(tmp_path))


async def _project(tmp_path: Path) -> None:
    project, user = tmp_path / "project", tmp_path / "user"
    project_file = project / ".mobkat" / "config.toml"
    client = MeerkatClient()
    await client.connect(realm_id="sdk-config", state_root=str(tmp_path / "state"), context_root=str(project),
                         user_config_root=str(user))
    try:
        assert (await client.get_config())["generation"] == 0
        patched = await client.patch_config({"agent": {"model": "gpt-5.5"}})
        assert patched["generation"] == 1 and patched["config"]["default_model"] == "gpt-5.5"
        assert patched["written"] == {"scope": "project", "file": str(project_file)}
        assert tomllib.loads(project_file.read_text()) == {"agent": {"model": "gpt-5.5"}}
        assert not (user / "config.toml").exists()
        session = await client.create_session("hi")  # no model named: the new default applies at once
        assert (await client.read_session(session.id)).model == "gpt-5.5"

        replaced = await client.set_config({"default_model": "claude-opus-4-7",
                                            "providers": {"openai": {"api_key_env": "TEAM_OPENAI_KEY"}}},
                                           expected_generation=1)
        assert replaced["generation"] == 2 and replaced["config"]["default_model"] == "claude-opus-4-7"
        assert tomllib.loads(project_file.read_text()) == {
            "default_model": "claude-opus-4-7", "providers": {"openai": {"api_key_env": "TEAM_OPENAI_KEY"}}}
        deleted = await client.patch_config({"providers": None})  # RFC 7386: null removes the key
        assert "providers" not in tomllib.loads(project_file.read_text()) and deleted["generation"] == 3

        before = project_file.read_text()
        with pytest.raises(MeerkatError) as stale:
            await client.patch_config({"default_model": "gpt-5.5"}, expected_generation=1)
        assert stale.value.code == "-32602" and stale.value.message == "Generation conflict: expected 1, current 3"
        with pytest.raises(MeerkatError) as unknown_model:
            await client.patch_config({"agent": {"model": "no-such-model"}})
        assert unknown_model.value.code == "-32602" and "unknown model 'no-such-model'" in unknown_model.value.message
        with pytest.raises(MeerkatError) as unknown_key:
            await client.set_config({"defualt_model": "gpt-5.5"})
        assert unknown_key.value.code == "-32602" and "defualt_model" in unknown_key.value.message
        assert project_file.read_text() == before and (await client.get_config())["generation"] == 3
    finally:
        await client.close()


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_writes_the_user_config_without_a_context_root(tmp_path: Path) -> None:
    asyncio.run(_user(tmp_path))


async def _user(tmp_path: Path) -> None:
    user = tmp_path / "user"
    client = MeerkatClient()
    await client.connect(realm_id="sdk-user-config", state_root=str(tmp_path / "state"),
                         user_config_root=str(user))
    try:
        written = await client.patch_config({"agent": {"model": "gpt-realtime-2"}})
        assert written["written"] == {"scope": "user", "file": str(user / "config.toml")}
        assert tomllib.loads((user / "config.toml").read_text()) == {"agent": {"model": "gpt-realtime-2"}}
        assert (await client.get_config())["sources"]["default_model"].startswith(str(user / "config.toml"))
    finally:
        await client.close()
