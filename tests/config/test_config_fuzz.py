"""Hypothesis: mutated valid config files load or raise ConfigError, never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat.config import MobkatConfig, load_config
from mobkat.errors import ConfigError

VALID = [
    'default_model = "gpt-realtime-2"\n',
    """\
default_model = "gpt-5.5"   # comment

[providers.openai]
base_url = "http://127.0.0.1:8765/v1"
api_key_env = "OPENAI_API_KEY"
websocket_base_url = "ws://127.0.0.1:8765/v1"

[providers.anthropic]
api_key_env = "MY_ANTHROPIC_KEY"
""",
    """\
[providers.self_hosted]
base_url = "http://localhost:8000/v1"

[models."llama-3.3-70b"]
provider = "self_hosted"
display_name = "Llama 3.3 70B"
context_window = 131072
max_output_tokens = 8192
supports_temperature = true
effort_levels = ["low", "high"]
default_effort = "low"
beta_headers = [{ feature = "f", header_name = "x-beta", header_value = "v1" }]

[models.voice]
provider = "other"
realtime = true
realtime_supports_explicit_commit = true
transcription_companion_model = 'whisper-1'
""",
    """\
default_model = "house-model"
providers.gemini.base_url = "https://gemini.example/v1beta/openai/"
models.house-model = { provider = "other", tier = "recommended", vision = true }
""",
]

TOKENS = [
    "[", "]", "[[", "]]", "=", '"', "'", '"""', ".", ",", "{", "}", "#", "\n", " ", "\t", "\\",
    "true", "1", "-1", "0.5", "1979-05-27", "providers", "models", "openai", "provider",
    "base_url", "default_model", "realtime", "x", "é", "\x00",
]

VALUES = ['""', "0", "true", "[]", "{}", '"gpt-5.5"', "'x'", "[1, 2]", "{ a = 1 }", "1e9"]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        operation = draw(st.sampled_from(["delete", "insert", "swap_lines", "replace_value"]))
        if operation == "delete" and text:
            start = draw(st.integers(min_value=0, max_value=len(text) - 1))
            end = draw(st.integers(min_value=start + 1, max_value=min(len(text), start + 6)))
            text = text[:start] + text[end:]
        elif operation == "insert":
            at = draw(st.integers(min_value=0, max_value=len(text)))
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif operation == "swap_lines":
            lines = text.split("\n")
            i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif operation == "replace_value" and "=" in text:
            lines = text.split("\n")
            candidates = [n for n, content in enumerate(lines) if "=" in content]
            n = draw(st.sampled_from(candidates))
            key = lines[n].split("=", 1)[0]
            value = draw(st.sampled_from(VALUES))
            lines[n] = f"{key}= {value}"
            text = "\n".join(lines)
    return text


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_mutated_config_loads_or_raises_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        path = project / ".mobkat" / "config.toml"
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        try:
            config = load_config(project_dir=project, user_dir=Path(tmp) / "no-user")
        except ConfigError as exc:
            assert str(exc).startswith(f"{path}:") or str(exc).startswith(f"{path}: ")
            assert exc.file == str(path)
            if exc.line is not None:
                assert 1 <= exc.line <= max(1, text.count("\n") + 1)
        else:
            assert isinstance(config, MobkatConfig)


def test_the_seed_files_are_valid() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for text in VALID:
            path = Path(tmp) / ".mobkat" / "config.toml"
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            assert isinstance(load_config(project_dir=tmp, user_dir=Path(tmp) / "none"), MobkatConfig)
