"""Config files: precedence (built-in < user < project < arguments), provenance, and errors that
name file, line and dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobkat.config import BUILTIN_PROVIDERS, load_config
from mobkat.errors import ConfigError, InvalidInputError

USER = """\
default_model = "gpt-5.5"

[providers.openai]
base_url = "http://user.example/v1"
api_key_env = "USER_OPENAI_KEY"

[providers.anthropic]
api_key_env = "USER_ANTHROPIC_KEY"

[models.local-llm]
provider = "self_hosted"
display_name = "User LLM"
context_window = 8192
vision = true
"""

PROJECT = """\
# project settings
default_model = "claude-opus-4-7"

[providers.openai]
base_url = "http://project.example/v1"

[models.local-llm]
provider = "self_hosted"
context_window = 32768
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(user_dir, project_dir), both empty."""
    user, project = tmp_path / "home" / ".mobkat", tmp_path / "project"
    user.mkdir(parents=True)
    project.mkdir()
    return user, project


def load_project(dirs: tuple[Path, Path], text: str) -> None:
    user, project = dirs
    write(project / ".mobkat" / "config.toml", text)
    load_config(project_dir=project, user_dir=user)


# --------------------------------------------------------------------------- precedence


def test_no_files_gives_builtin_defaults(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    config = load_config(project_dir=project, user_dir=user)
    assert config.default_model is None
    assert config.files == ()
    assert config.provider("openai") == BUILTIN_PROVIDERS["openai"]
    assert config.provider("openai").base_url is None
    assert config.provider("openai").api_key_env == "OPENAI_API_KEY"
    assert config.provider("anthropic").base_url == "https://api.anthropic.com/v1/"
    assert config.provider("gemini").api_key_env == "GEMINI_API_KEY"
    assert config.source_of("providers.gemini.base_url") is not None
    assert str(config.source_of("providers.gemini.base_url")) == "built-in default"
    assert config.source_of("providers.openai.base_url") is None


def test_user_file_overrides_builtins_per_field(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    write(user / "config.toml", USER)
    config = load_config(project_dir=project, user_dir=user)
    anthropic = config.provider("anthropic")
    assert anthropic.api_key_env == "USER_ANTHROPIC_KEY"
    assert anthropic.base_url == "https://api.anthropic.com/v1/"  # built-in field kept
    assert config.default_model == "gpt-5.5"


def test_project_wins_over_user_per_field_and_arguments_win_over_both(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    user_file = write(user / "config.toml", USER)
    project_file = write(project / ".mobkat" / "config.toml", PROJECT)

    config = load_config(project_dir=project, user_dir=user)
    assert config.files == (str(user_file), str(project_file))
    openai = config.provider("openai")
    assert openai.base_url == "http://project.example/v1"  # project
    assert openai.api_key_env == "USER_OPENAI_KEY"  # user: project does not set it
    assert config.default_model == "claude-opus-4-7"
    assert str(config.source_of("providers.openai.base_url")) == f"{project_file}:5"
    assert str(config.source_of("providers.openai.api_key_env")) == f"{user_file}:5"
    assert str(config.source_of("default_model")) == f"{project_file}:2"

    argued = load_config(
        project_dir=project,
        user_dir=user,
        overrides={"default_model": "gpt-realtime-2", "providers": {"openai": {"base_url": None}}},
    )
    assert argued.default_model == "gpt-realtime-2"
    assert argued.provider("openai").base_url == "http://project.example/v1"  # None = not given
    source = argued.source_of("default_model")
    assert source is not None and source.kind == "arguments"


def test_a_project_model_entry_replaces_the_user_entry_whole(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    write(user / "config.toml", USER)
    write(project / ".mobkat" / "config.toml", PROJECT)
    model = load_config(project_dir=project, user_dir=user).models["local-llm"]
    assert model.context_window == 32768
    assert model.display_name is None  # not mixed in from the user's entry
    assert model.vision is False


def test_config_home_env_locates_the_user_file(
    dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, project = dirs
    home = tmp_path / "elsewhere"
    write(home / "config.toml", 'default_model = "gemini-3.5-flash"\n')
    monkeypatch.setenv("MOBKAT_CONFIG_HOME", str(home))
    config = load_config(project_dir=project)
    assert config.default_model == "gemini-3.5-flash"
    assert config.files == (str(home / "config.toml"),)


def test_defaults_use_home_and_cwd_with_relative_project_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOBKAT_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write(tmp_path / "home" / ".mobkat" / "config.toml", 'default_model = "gpt-5.4"\n')
    work = tmp_path / "work"
    write(work / ".mobkat" / "config.toml", '\n\n\n[providers.openai]\nbase_url = "ftp://nope"\n')
    monkeypatch.chdir(work)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert str(caught.value) == (
        ".mobkat/config.toml:5: providers.openai.base_url: "
        "expected an http:// or https:// URL, got 'ftp://nope'"
    )


def test_same_file_as_user_and_project_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / ".mobkat" / "config.toml", 'default_model = "gpt-5.4"\n')
    config = load_config(project_dir=tmp_path, user_dir=tmp_path / ".mobkat")
    assert len(config.files) == 1
    source = config.source_of("default_model")
    assert source is not None and source.kind == "user"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '[providers.openai]\nbsae_url = "http://x"\n',
            "2: providers.openai.bsae_url: unknown key 'bsae_url' (did you mean 'base_url'?)",
            id="unknown-key-did-you-mean",
        ),
        pytest.param(
            'default_model = "gpt-5.5"\ndefualt_model = "x"\n',
            "2: defualt_model: unknown key 'defualt_model' (did you mean 'default_model'?)",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "\n[providers.openai]\nbase_url = 8080\n",
            "3: providers.openai.base_url: expected a string, got integer 8080",
            id="wrong-type",
        ),
        pytest.param(
            '[models.m]\nprovider = "other"\ncontext_window = "128k"\n',
            "3: models.m.context_window: expected an integer, got string '128k'",
            id="wrong-type-int",
        ),
        pytest.param(
            '# x\n[providers.opneai]\nbase_url = "http://x"\n',
            "2: providers.opneai: unknown key 'opneai' (expected one of 'openai', 'anthropic', "
            "'gemini', 'self_hosted', 'other'; did you mean 'openai'?)",
            id="unknown-provider-name",
        ),
        pytest.param(
            '[models.m]\nprovider = "azure"\n',
            "2: models.m.provider: expected one of 'openai', 'anthropic', 'gemini', 'self_hosted' "
            "or 'other', got string 'azure'",
            id="unknown-provider-value",
        ),
        pytest.param(
            "\n\n[models.llama]\ncontext_window = 4096\n",
            "3: models.llama.provider: required key is missing",
            id="custom-model-without-provider",
        ),
        pytest.param(
            "a = 1\n[providers.openai\n",
            "2: TOML syntax error: ",
            id="toml-syntax",
        ),
        pytest.param(
            'default_model = "my-model"\n',
            "1: default_model: unknown model 'my-model': not in the catalog",
            id="unknown-default-model",
        ),
        pytest.param(
            '\n[models."gpt-5.5"]\nprovider = "openai"\n',
            "2: models.\"gpt-5.5\": 'gpt-5.5' is already in the curated catalog",
            id="custom-model-shadows-curated",
        ),
        pytest.param(
            '[models.x]\nprovider = "other"\nrealtime_interrupt_supported = true\n',
            "1: models.x: realtime_interrupt_supported is set but realtime is false",
            id="realtime-fact-without-realtime",
        ),
        pytest.param(
            '[providers.gemini]\napi_key_env = "sk-proj-0123456789"\n',
            "2: providers.gemini.api_key_env: this looks like an API key itself",
            id="key-in-api-key-env",
        ),
    ],
)
def test_each_error_names_file_line_and_key(dirs: tuple[Path, Path], text: str, expected: str) -> None:
    _, project = dirs
    with pytest.raises(ConfigError) as caught:
        load_project(dirs, text)
    assert str(caught.value).startswith(f"{project / '.mobkat' / 'config.toml'}:{expected}")
    assert caught.value.file == str(project / ".mobkat" / "config.toml")
    assert caught.value.line == int(expected.split(":")[0])


def test_an_api_key_is_never_echoed(dirs: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(dirs, '[providers.openai]\napi_key_env = "sk-secret-value-123"\n')
    assert "sk-secret" not in str(caught.value)


def test_errors_in_the_user_file_name_the_user_file(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    write(user / "config.toml", "[providers.openai]\nwebsocket_base_url = 'https://x'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(project_dir=project, user_dir=user)
    assert str(caught.value).startswith(f"{user / 'config.toml'}:2: providers.openai.websocket_base_url: ")


def test_errors_in_arguments_name_the_arguments(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    with pytest.raises(ConfigError) as caught:
        load_config(project_dir=project, user_dir=user, overrides={"providers": {"openai": {"base": "x"}}})
    assert str(caught.value) == (
        "<arguments>: providers.openai.base: unknown key 'base' (did you mean 'base_url'?)"
    )


def test_unknown_default_model_error_points_at_the_file_that_set_it(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    write(user / "config.toml", '\n\ndefault_model = "mystery"\n')
    write(project / ".mobkat" / "config.toml", '[providers.openai]\nbase_url = "http://x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(project_dir=project, user_dir=user)
    assert (caught.value.file, caught.value.line, caught.value.key) == (
        str(user / "config.toml"),
        3,
        "default_model",
    )


def test_self_hosted_without_base_url_fails_when_used(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    write(project / ".mobkat" / "config.toml", '[models.llama]\nprovider = "self_hosted"\n')
    config = load_config(project_dir=project, user_dir=user)  # declaring it is fine
    with pytest.raises(ConfigError) as caught:
        config.provider("self_hosted")
    assert str(caught.value).startswith(
        f"{project / '.mobkat' / 'config.toml'}: providers.self_hosted.base_url: provider 'self_hosted' needs"
    )
    write(user / "config.toml", '[providers.self_hosted]\nbase_url = "http://127.0.0.1:8000/v1"\n')
    settings = load_config(project_dir=project, user_dir=user).provider("self_hosted")
    assert settings.base_url == "http://127.0.0.1:8000/v1"
    assert settings.api_key_env is None


def test_provider_rejects_unknown_names(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    with pytest.raises(InvalidInputError, match="unknown provider 'azure'"):
        load_config(project_dir=project, user_dir=user).provider("azure")


def test_a_directory_in_place_of_the_file_is_an_error(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    (project / ".mobkat" / "config.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(project_dir=project, user_dir=user)


# --------------------------------------------------------------------------- upstream's [agent] model


def test_upstream_agent_model_is_the_default_model(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    path = write(project / ".mobkat" / "config.toml", '# upstream spelling\n[agent]\nmodel = "gpt-realtime-2"\n')
    config = load_config(project_dir=project, user_dir=user)
    assert config.default_model == "gpt-realtime-2" and config.agent is not None
    assert config.agent.model == "gpt-realtime-2"
    for key in ("default_model", "agent.model"):
        source = config.source_of(key)
        assert source is not None and (source.file, source.line) == (str(path), 3)


def test_an_empty_upstream_agent_model_leaves_the_default_unset(dirs: tuple[Path, Path]) -> None:
    user, project = dirs
    write(project / ".mobkat" / "config.toml", '[agent]\nmodel = ""\n')
    assert load_config(project_dir=project, user_dir=user).default_model is None


def test_an_unknown_upstream_agent_model_names_file_line_and_key(dirs: tuple[Path, Path]) -> None:
    _, project = dirs
    with pytest.raises(ConfigError) as caught:
        load_project(dirs, '[agent]\n\nmodel = "nope"\n')
    assert str(caught.value).startswith(f"{project / '.mobkat' / 'config.toml'}:3: agent.model: unknown model 'nope'")
