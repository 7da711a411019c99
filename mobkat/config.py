"""mobkat configuration: ``default_model``, per-provider endpoints and custom models, read from the
user file (``$MOBKAT_CONFIG_HOME/config.toml``, default ``~/.mobkat/config.toml``) and the project
file (``.mobkat/config.toml``). Precedence, per key: built-ins < user < project < call arguments.
Every problem is a :class:`~mobkat.errors.ConfigError` naming ``file:line: dotted.key``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from mobkat.catalog import Catalog, ModelCapabilities, ModelProfile, ProviderName, Tier, check_provider
from mobkat.errors import ConfigError, UnknownModelError
from mobkat.toml_source import KeyPath, TomlDocument, format_key, load_toml, parse_key, validate_document

CONFIG_HOME_ENV = "MOBKAT_CONFIG_HOME"
CONFIG_FILENAME = "config.toml"
ARGUMENTS_SOURCE = "<arguments>"
"""The "file" named by errors in explicit call arguments (``load_config(overrides=...)``)."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NEEDS_BASE_URL: tuple[ProviderName, ...] = ("self_hosted", "other")

SourceKind = Literal["builtin", "user", "project", "arguments"]


class AgentSettings(BaseModel):
    """Upstream Meerkat's ``[agent]`` table: ``model`` is upstream's spelling of ``default_model``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    model: str | None = None
    """The default model; empty means unset, as upstream."""


class ProviderSettings(BaseModel):
    """How to reach one provider (``[providers.<name>]``)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    base_url: str | None = None
    """OpenAI-compatible endpoint; unset for ``openai`` means the SDK default (``OPENAI_BASE_URL``)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    websocket_base_url: str | None = None
    """Realtime WebSocket endpoint (``ws://`` / ``wss://``); unset: derived from ``base_url`` by the SDK."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^\s/]", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("websocket_base_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"wss?://[^\s/]", value):
            raise ValueError(f"expected a ws:// or wss:// URL, got {value!r}")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None or _ENV_NAME.fullmatch(value):
            return value
        if value.startswith("sk-") or len(value) > 40:
            raise ValueError(
                "this looks like an API key itself; put the key in an environment variable and "
                "name that variable here (e.g. api_key_env = \"OPENAI_API_KEY\")"
            )
        raise ValueError("expected the name of an environment variable, e.g. \"OPENAI_API_KEY\"")


BUILTIN_PROVIDERS: dict[ProviderName, ProviderSettings] = {
    "openai": ProviderSettings(api_key_env="OPENAI_API_KEY"),
    "anthropic": ProviderSettings(base_url="https://api.anthropic.com/v1/", api_key_env="ANTHROPIC_API_KEY"),
    "gemini": ProviderSettings(
        base_url="https://generativelanguage.googleapis.com/v1beta/openai/", api_key_env="GEMINI_API_KEY"
    ),
    "self_hosted": ProviderSettings(),
    "other": ProviderSettings(),
}
"""Defaults under every config file. ``self_hosted`` and ``other`` need a configured ``base_url``."""


class CustomModel(ModelCapabilities):
    """A ``[models.<id>]`` entry: a model the curated catalog does not know. Every capability
    (``realtime`` included) defaults to false; ``provider`` is required."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    provider: ProviderName
    display_name: str | None = Field(default=None, min_length=1)
    tier: Tier = "supported"
    model_family: str | None = Field(default=None, min_length=1)


class ConfigSource(BaseModel):
    """Where a config value came from."""

    model_config = ConfigDict(frozen=True)

    kind: SourceKind
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.kind == "builtin":
            return "built-in default"
        where = self.file or ARGUMENTS_SOURCE
        return f"{where}:{self.line}" if self.line is not None else where


class MobkatConfig(BaseModel):
    """The merged configuration (also the schema of each config file)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    default_model: str | None = Field(default=None, min_length=1)
    agent: AgentSettings | None = None
    """``[agent] model`` (upstream's key) sets ``default_model``; the merged config reports both."""
    providers: dict[ProviderName, ProviderSettings] = Field(default_factory=dict)
    models: dict[Annotated[str, Field(min_length=1)], CustomModel] = Field(default_factory=dict)

    _sources: dict[KeyPath, ConfigSource] = PrivateAttr(default_factory=dict)
    _files: tuple[str, ...] = PrivateAttr(default=())
    _home_file: str = PrivateAttr(default=CONFIG_FILENAME)
    _default_key: KeyPath = PrivateAttr(default=("default_model",))

    @property
    def files(self) -> tuple[str, ...]:
        """The config files that were read, lowest precedence first."""
        return self._files

    def provider(self, name: str) -> ProviderSettings:
        """Settings for provider ``name``: built-ins overlaid with configured fields. ``self_hosted``
        and ``other`` without a ``base_url`` raise a ``ConfigError`` saying where to set it."""
        known = check_provider(name)
        own = self.providers.get(known)
        merged = BUILTIN_PROVIDERS[known]
        if own is not None:
            merged = merged.model_copy(update={f: getattr(own, f) for f in own.model_fields_set})
        if known in _NEEDS_BASE_URL and merged.base_url is None:
            raise self.error(
                ("providers", known, "base_url"),
                f"provider {known!r} needs a base_url (its OpenAI-compatible endpoint, e.g. "
                f'"http://localhost:8000/v1"); set it under [providers.{known}]',
            )
        return merged

    def custom_profile(self, model_id: str) -> ModelProfile:
        """The catalog profile of custom model ``model_id`` (from ``[models.<id>]``)."""
        entry = self.models[model_id]
        caps = ModelCapabilities(**{name: getattr(entry, name) for name in ModelCapabilities.model_fields})
        return ModelProfile(
            id=model_id,
            provider=entry.provider,
            display_name=entry.display_name or model_id,
            tier=entry.tier,
            model_family=entry.model_family or "custom",
            capabilities=caps,
            origin="custom",
        )

    def source_of(self, key: str | Sequence[str | int]) -> ConfigSource | None:
        """Which file (and line) set ``key`` (dotted, e.g. ``providers.openai.base_url``); a
        built-in default reports ``kind="builtin"``; ``None`` if nothing sets it."""
        path: KeyPath = parse_key(key) if isinstance(key, str) else tuple(key)
        found = self._sources.get(path)
        if found is not None:
            return found
        if len(path) in (2, 3) and path[0] == "providers" and path[1] in BUILTIN_PROVIDERS:
            builtin = BUILTIN_PROVIDERS[check_provider(str(path[1]))]
            if len(path) == 2 or getattr(builtin, str(path[2]), None) is not None:
                return ConfigSource(kind="builtin")
        return None

    def error(self, key: Sequence[str | int], problem: str) -> ConfigError:
        """A ``ConfigError`` at ``key``, located in the file that set it (else the nearest file)."""
        path = tuple(key)
        source = None
        for length in range(len(path), 0, -1):
            source = self._sources.get(path[:length])
            if source is not None:
                break
        if source is None or source.file is None:
            return ConfigError(self._home_file, None, format_key(path), problem)
        return ConfigError(source.file, source.line, format_key(path), problem)


def user_config_dir() -> Path:
    """``$MOBKAT_CONFIG_HOME`` if set, else ``~/.mobkat``."""
    home = os.environ.get(CONFIG_HOME_ENV)
    return Path(home) if home else Path.home() / ".mobkat"


def load_config(
    *,
    project_dir: str | os.PathLike[str] | None = None,
    user_dir: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> MobkatConfig:
    """Load and merge the user file (``user_dir``, default :func:`user_config_dir`), the project
    file (``<project_dir>/.mobkat/config.toml``, default the current directory) and ``overrides``
    (same shape as a file; ``None`` values mean "not given"). Missing files are fine."""
    user_file = (Path(user_dir) if user_dir is not None else user_config_dir()) / CONFIG_FILENAME
    project_root = Path(project_dir) if project_dir is not None else Path()
    project_file = project_root / ".mobkat" / CONFIG_FILENAME
    layers: list[tuple[SourceKind, TomlDocument, MobkatConfig]] = []
    seen: list[Path] = []
    files: tuple[tuple[SourceKind, Path], ...] = (("user", user_file), ("project", project_file))
    for kind, path in files:
        if not _exists(path) or any(_same_file(path, other) for other in seen):
            continue
        seen.append(path)
        doc = load_toml(path)
        layers.append((kind, doc, validate_document(MobkatConfig, doc)))
    if overrides:
        doc = TomlDocument(path=ARGUMENTS_SOURCE, data=_drop_none(dict(overrides)))
        layers.append(("arguments", doc, validate_document(MobkatConfig, doc)))
    config = _merge(layers)
    config._files = tuple(doc.path for kind, doc, _ in layers if kind != "arguments")
    config._home_file = str(project_file) if _exists(project_file) else str(user_file)
    _check(config)
    return config


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError as exc:
        raise ConfigError(str(path), None, "", f"cannot read the file: {exc.strerror or exc}") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _drop_none(item) for key, item in value.items() if item is not None}
    return value


def _merge(layers: Sequence[tuple[SourceKind, TomlDocument, MobkatConfig]]) -> MobkatConfig:
    default_model: str | None = None
    default_key: KeyPath = ("default_model",)
    providers: dict[ProviderName, dict[str, Any]] = {}
    models: dict[str, CustomModel] = {}
    sources: dict[KeyPath, ConfigSource] = {}
    for kind, doc, layer in layers:

        def note(path: KeyPath, kind: SourceKind = kind, doc: TomlDocument = doc) -> None:
            sources[path] = ConfigSource(kind=kind, file=doc.path, line=doc.line_of(path))

        if "default_model" in layer.model_fields_set:
            default_model = layer.default_model
            default_key = ("default_model",)
            note(default_key)
        if layer.agent is not None and layer.agent.model:  # upstream's spelling of the same setting
            default_model = layer.agent.model
            default_key = ("agent", "model")
            note(default_key)
            sources[("default_model",)] = sources[default_key]
        for name, settings in layer.providers.items():
            note(("providers", name))
            for field in settings.model_fields_set:
                providers.setdefault(name, {})[field] = getattr(settings, field)
                note(("providers", name, field))
        for model_id, entry in layer.models.items():  # a model entry replaces a lower one whole
            for path in [p for p in sources if p[:2] == ("models", model_id)]:
                del sources[path]
            models[model_id] = entry
            note(("models", model_id))
            for field in entry.model_fields_set:
                note(("models", model_id, field))
    config = MobkatConfig(
        default_model=default_model,
        agent=AgentSettings(model=default_model) if default_model is not None else None,
        providers={name: ProviderSettings(**fields) for name, fields in providers.items()},
        models=models,
    )
    config._sources = sources
    config._default_key = default_key
    return config


def _check(config: MobkatConfig) -> None:
    """Checks that need the whole merged config (and the catalog)."""
    curated = Catalog.default()
    for model_id in config.models:
        if curated.get(model_id) is not None:
            raise config.error(
                ("models", model_id),
                f"{model_id!r} is already in the curated catalog; custom models need their own id "
                "(run `mobkat models` to see the catalog)",
            )
    if config.default_model is not None:
        try:
            curated.with_config(config).resolve(config.default_model)
        except UnknownModelError:
            raise config.error(
                config._default_key,
                f"unknown model {config.default_model!r}: not in the catalog and its provider cannot be "
                f'inferred from the name; declare it under [models."{config.default_model}"] with a '
                "provider (run `mobkat models` to see the catalog)",
            ) from None
