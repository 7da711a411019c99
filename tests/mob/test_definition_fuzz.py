"""Hypothesis: mutated valid definitions load or raise a ConfigError naming the file, never
anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobkat.errors import ConfigError
from mobkat.mob import MobDefinition

VALID = [
    """\
id = "live-demo"

[profiles.host]
model = "gpt-realtime-2"
provider = "openai"
peer_description = "Live audio host"
""",
    """\
[mob]
id = "team"
orchestrator = { profile = "lead" }

[profiles.lead]
model = "gpt-5.5"
skills = ["lead-role", "tech"]
instructions = "Lead."
tools = { comms = true, python = ["json:dumps"], mob = true }
restart = { max_restarts = 2, within_s = 30 }

[profiles.worker]
model = "claude-sonnet-4-6"
runtime_mode = "turn_driven"
external_addressable = true

[profiles.voice]
model = "gpt-realtime-2"
[profiles.voice.live]
open_on_spawn = true
turning_mode = "explicit_commit"
voice = "cedar"

[wiring]
auto_wire_orchestrator = true
role_wiring = [{ a = "worker", b = "worker" }]

[skills.lead-role]
source = "inline"
content = \"\"\"Break it down.\"\"\"
[skills.tech]
source = "path"
path = "skills/tech.md"

[[members]]
name = "lead"
profile = "lead"
initial_message = "go"
[[members]]
name = "w-1"
profile = "worker"
[[members]]
name = "v"
profile = "voice"

[demo]
member = "v"
say = ["hello"]
wait_s = 5
""",
]

TOKENS = [
    "[", "]", "[[", "]]", "=", '"', "'", ".", ",", "{", "}", "#", "\n", " ", "\\", "true", "1", "-1",
    "0.5", "inf", "id", "mob", "profiles", "skills", "members", "wiring", "demo", "live", "model",
    "gpt-5.5", "gpt-realtime-2", "__flow_", "lead", "host", "é", "\x00",
]
VALUES = ['""', "0", "true", "[]", "{}", '"gpt-5.5"', '"lead"', "'x y'", '["nope"]', "{ a = 1 }", "nan"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        operation = draw(st.sampled_from(["delete", "insert", "swap_lines", "replace_value", "drop_line"]))
        lines = text.split("\n")
        if operation == "delete" and text:
            start = draw(st.integers(min_value=0, max_value=len(text) - 1))
            end = draw(st.integers(min_value=start + 1, max_value=min(len(text), start + 6)))
            text = text[:start] + text[end:]
        elif operation == "insert":
            at = draw(st.integers(min_value=0, max_value=len(text)))
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif operation == "swap_lines":
            i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif operation == "drop_line":
            del lines[draw(st.integers(min_value=0, max_value=len(lines) - 1))]
            text = "\n".join(lines)
        elif operation == "replace_value" and "=" in text:
            candidates = [n for n, content in enumerate(lines) if "=" in content]
            n = draw(st.sampled_from(candidates))
            lines[n] = lines[n].split("=", 1)[0] + "= " + draw(st.sampled_from(VALUES))
            text = "\n".join(lines)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_definitions_load_or_raise_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "skills").mkdir()
        (Path(tmp) / "skills" / "tech.md").write_text("Tech.\n")
        path = Path(tmp) / "mob.toml"
        path.write_text(text, encoding="utf-8")
        try:
            definition = MobDefinition.from_toml(path)
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}:") or str(exc).startswith(f"{path}: ")
            assert exc.file == str(path)
            if exc.line is not None:
                assert 1 <= exc.line <= max(1, text.count("\n") + 1)
            for other in exc.details.get("other_problems", []):
                assert other.startswith(str(path))
        else:
            for member in definition.members_to_spawn():
                definition.system_prompt(member.profile)
                definition.live_settings(member.profile)
            again = MobDefinition.from_dict(definition.to_json(), base_dir=tmp)
            assert again.to_json() == definition.to_json()


def test_the_seed_texts_are_valid() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "skills").mkdir()
        (Path(tmp) / "skills" / "tech.md").write_text("Tech.\n")
        for index, text in enumerate(VALID):
            path = Path(tmp) / f"m{index}.toml"
            path.write_text(text)
            assert MobDefinition.from_toml(path).members_to_spawn()
