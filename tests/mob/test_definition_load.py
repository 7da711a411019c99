"""Loading mob definitions: the seed example verbatim, the [mob] form, the JSON form, what
``mobkat run`` spawns, prompts, live settings, and every example under ``mobs/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobkat.catalog import Catalog
from mobkat.config import load_config
from mobkat.errors import InvalidInputError, ToolError
from mobkat.mob import JSON_SOURCE, LiveSettings, MemberSpec, MobDefinition

REPO = Path(__file__).resolve().parents[2]

SEED = """\
id = "live-demo"

[profiles.host]
model = "gpt-realtime-2"
provider = "openai"
peer_description = "Live audio host"
"""

UPSTREAM_FORM = """\
[mob]
id = "research_team"
orchestrator = "lead"

[profiles.lead]
model = "claude-opus-4-8"
skills = ["lead-role"]
peer_description = "Lead analyst"
instructions = "You are the lead."
external_addressable = true
[profiles.lead.tools]
builtins = true
comms = true
mob = true

[profiles.tech]
model = "claude-sonnet-4-6"
skills = ["tech-role", "lead-role"]
runtime_mode = "turn_driven"
[profiles.tech.tools]
comms = false
shell = true
python = ["json:dumps", "os.path:join"]
[profiles.tech.restart]
max_restarts = 0
within_s = 5

[profiles.voice]
model = "gpt-realtime-2"
[profiles.voice.live]
turning_mode = "explicit_commit"
voice = "cedar"

[wiring]
auto_wire_orchestrator = true
[[wiring.role_wiring]]
a = "tech"
b = "tech"

[skills.lead-role]
source = "inline"
content = "Break the question down."
[skills.tech-role]
source = "path"
path = "skills/tech.md"

[[members]]
name = "boss"
profile = "lead"
initial_message = "Start."
[[members]]
name = "t-1"
profile = "tech"
[[members]]
name = "t-2"
profile = "tech"
[[members]]
name = "speaker"
profile = "voice"

[demo]
member = "speaker"
say = ["hello", "bye"]
wait_s = 2
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def team(tmp_path: Path) -> MobDefinition:
    write(tmp_path / "skills" / "tech.md", "Check feasibility.\n\n")
    return MobDefinition.from_toml(write(tmp_path / "team.toml", UPSTREAM_FORM))


def test_the_seed_example_loads_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path / "live-demo.toml", SEED)
    definition = MobDefinition.from_toml(path)
    assert definition.id == "live-demo"
    assert definition.orchestrator_profile is None
    assert definition.source_path == str(path)
    assert definition.base_dir == tmp_path
    host = definition.profile("host")
    assert (host.model, host.provider, host.peer_description) == ("gpt-realtime-2", "openai", "Live audio host")
    assert host.tools.comms is True  # defaults to true here (upstream: false)
    assert host.runtime_mode == "autonomous_host"
    assert definition.members_to_spawn() == [MemberSpec(name="host", profile="host")]
    assert definition.model_profile("host").capabilities.realtime is True
    assert definition.live_settings("host") == LiveSettings(
        open_on_spawn=True, turning_mode="provider_managed", voice="marin"
    )
    assert definition.system_prompt("host") == ""


def test_the_upstream_mob_table_form_loads_every_key(tmp_path: Path) -> None:
    write(tmp_path / "skills" / "tech.md", "Check feasibility.\n")
    definition = MobDefinition.from_toml(write(tmp_path / "team.toml", UPSTREAM_FORM))
    assert definition.id == "research_team"
    assert definition.orchestrator_profile == "lead"
    assert [m.name for m in definition.members_to_spawn()] == ["boss", "t-1", "t-2", "speaker"]
    assert definition.members_to_spawn()[0].initial_message == "Start."
    lead, tech = definition.profile("lead"), definition.profile("tech")
    assert lead.external_addressable and lead.tools.builtins and lead.tools.mob
    assert tech.tools.comms is False  # allowed: the member just cannot message peers
    assert tech.tools.python == ["json:dumps", "os.path:join"]
    assert tech.runtime_mode == "turn_driven"
    assert (tech.restart.max_restarts, tech.restart.within_s) == (0, 5.0)
    assert lead.restart.max_restarts == 3 and lead.restart.within_s == 60.0
    assert definition.wiring.auto_wire_orchestrator
    assert [(w.a, w.b) for w in definition.wiring.role_wiring] == [("tech", "tech")]
    assert definition.demo is not None and definition.demo.say == ["hello", "bye"]
    assert definition.demo.wait_s == 2.0
    assert definition.live_settings("voice") == LiveSettings(
        open_on_spawn=True, turning_mode="explicit_commit", voice="cedar"
    )
    assert definition.live_settings("lead").open_on_spawn is False  # not a realtime model


def test_open_on_spawn_false_on_a_realtime_model_is_respected(tmp_path: Path) -> None:
    text = SEED + "[profiles.host.live]\nopen_on_spawn = false\n"
    definition = MobDefinition.from_toml(write(tmp_path / "m.toml", text))
    assert definition.live_settings("host") == LiveSettings(open_on_spawn=False)


def test_top_level_orchestrator_and_inline_table_form(tmp_path: Path) -> None:
    text = 'id = "m"\norchestrator = { profile = "a" }\n[profiles.a]\nmodel = "gpt-5.5"\n'
    definition = MobDefinition.from_toml(write(tmp_path / "m.toml", text))
    assert definition.orchestrator_profile == "a"
    text = '[mob]\nid = "m"\norchestrator = { profile = "a" }\n[profiles.a]\nmodel = "gpt-5.5"\n'
    assert MobDefinition.from_toml(write(tmp_path / "n.toml", text)).orchestrator_profile == "a"


def test_system_prompt_is_instructions_then_skills_in_order(team: MobDefinition) -> None:
    assert team.system_prompt("lead") == "You are the lead.\n\nBreak the question down."
    assert team.system_prompt("tech") == "Check feasibility.\n\nBreak the question down."
    assert team.system_prompt("voice") == ""


def test_unknown_profile_name_is_a_typed_error(team: MobDefinition) -> None:
    with pytest.raises(InvalidInputError, match=r"mob 'research_team' has no profile 'nope' \(profiles: "):
        team.profile("nope")
    with pytest.raises(InvalidInputError):
        team.system_prompt("nope")


def test_python_tools_are_imported_on_request(team: MobDefinition, tmp_path: Path) -> None:
    import json
    import os.path

    assert team.python_tools("tech") == [json.dumps, os.path.join]
    assert team.python_tools("lead") == []
    text = (
        'id = "m"\n[profiles.a]\nmodel = "gpt-5.5"\n'
        'tools.python = ["json:dumps", "mobkat_no_such_module:f", "json:no_such_function"]\n'
    )
    definition = MobDefinition.from_toml(write(tmp_path / "t.toml", text))  # syntax is fine at load
    tools = definition.profile("a").tools.python
    assert len(tools) == 3
    with pytest.raises(ToolError, match=r"^profiles\.a\.tools\.python\[1\]: cannot import 'mobkat_no_such"):
        definition.python_tools("a")


def test_json_form_loads_and_round_trips(team: MobDefinition) -> None:
    data = team.to_json()
    assert data["id"] == "research_team"
    assert data["orchestrator"] == {"profile": "lead"}
    assert "mob" not in data
    again = MobDefinition.from_dict(data, base_dir=team.base_dir)
    assert again.source_path == JSON_SOURCE
    assert again.to_json() == data
    assert again.model_dump() == team.model_dump()
    assert again.members_to_spawn() == team.members_to_spawn()
    assert again.system_prompt("tech") == team.system_prompt("tech")
    assert again.live_settings("voice") == team.live_settings("voice")


def test_seed_round_trips_through_json(tmp_path: Path) -> None:
    seed = MobDefinition.from_toml(write(tmp_path / "s.toml", SEED))
    data = seed.to_json()
    assert "members" not in data  # still "one member per profile"
    assert MobDefinition.from_dict(data).to_json() == data


def test_json_form_with_a_minimal_object() -> None:
    definition = MobDefinition.from_dict({"id": "j", "profiles": {"w": {"model": "claude-haiku-4-5"}}})
    assert definition.members_to_spawn() == [MemberSpec(name="w", profile="w")]
    assert definition.model_profile("w").provider == "anthropic"


def test_default_members_are_one_per_profile_in_file_order(tmp_path: Path) -> None:
    text = 'id = "m"\n[profiles.zed]\nmodel = "gpt-5.5"\n[profiles.alpha]\nmodel = "gpt-5.4"\n'
    definition = MobDefinition.from_toml(write(tmp_path / "m.toml", text))
    assert [(m.name, m.profile) for m in definition.members_to_spawn()] == [("zed", "zed"), ("alpha", "alpha")]
    empty = MobDefinition.from_toml(write(tmp_path / "e.toml", "members = []\n" + text))
    assert empty.members_to_spawn() == []


def test_custom_realtime_model_from_config_allows_live(tmp_path: Path) -> None:
    write(tmp_path / "project" / ".mobkat" / "config.toml", """\
[models.house-voice]
provider = "other"
realtime = true
realtime_supports_explicit_commit = true
""")
    config = load_config(project_dir=tmp_path / "project", user_dir=tmp_path / "nouser")
    text = 'id = "m"\n[profiles.v]\nmodel = "house-voice"\n[profiles.v.live]\nturning_mode = "explicit_commit"\n'
    path = write(tmp_path / "m.toml", text)
    definition = MobDefinition.from_toml(path, catalog=Catalog.default().with_config(config))
    assert definition.live_settings("v").open_on_spawn is True


@pytest.mark.parametrize("path", sorted((REPO / "mobs").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_in_mobs_is_valid(path: Path) -> None:
    definition = MobDefinition.from_toml(path)
    assert definition.members_to_spawn()
    for member in definition.members_to_spawn():
        definition.system_prompt(member.profile)


def test_the_examples_exist() -> None:
    names = {p.name for p in (REPO / "mobs").glob("*.toml")}
    assert {"research-team.toml", "pipeline.toml"} <= names
    team = MobDefinition.from_toml(REPO / "mobs" / "research-team.toml")
    assert team.orchestrator_profile == "lead" and len(team.members_to_spawn()) == 4
    assert "technical feasibility" in team.system_prompt("tech")  # from mobs/skills/tech.md
