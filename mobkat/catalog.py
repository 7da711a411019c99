"""The model catalog: curated capability rows (data, never inferred from a name), custom models
from config, model/provider resolution and the ``models/catalog`` wire projection."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mobkat.catalog_rows import CURATED_ROWS, PROVIDER_DEFAULTS
from mobkat.contract import CURRENT, ContractVersion
from mobkat.errors import InvalidInputError, UnknownModelError

if TYPE_CHECKING:
    from mobkat.config import MobkatConfig

ProviderName = Literal["openai", "anthropic", "gemini", "self_hosted", "other"]
PROVIDERS: tuple[ProviderName, ...] = get_args(ProviderName)
Tier = Literal["recommended", "supported"]
EffortLevel = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
ModelOrigin = Literal["curated", "custom", "inferred"]

_REALTIME_FACTS = (
    "realtime_supports_provider_managed_turns",
    "realtime_supports_explicit_commit",
    "realtime_interrupt_supported",
    "realtime_transcript_supported",
)
_PREFIX_PROVIDERS: tuple[tuple[re.Pattern[str], ProviderName], ...] = (
    (re.compile(r"gpt-|o\d"), "openai"),
    (re.compile(r"claude-"), "anthropic"),
    (re.compile(r"gemini-"), "gemini"),
)


class BetaHeader(BaseModel):
    """A provider beta header a model is authorised to send."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    feature: str
    header_name: str
    header_value: str


class ModelCapabilities(BaseModel):
    """What a model can do. Every flag defaults to false: a capability is only ever stated."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    vision: bool = False
    image_tool_results: bool = False
    inline_video: bool = False
    image_generation: bool = False
    realtime: bool = False
    realtime_supports_provider_managed_turns: bool = False
    realtime_supports_explicit_commit: bool = False
    realtime_interrupt_supported: bool = False
    realtime_transcript_supported: bool = False
    transcription_companion_model: str | None = Field(default=None, min_length=1)
    supports_temperature: bool = False
    supports_top_p: bool = False
    supports_top_k: bool = False
    supports_thinking: bool = False
    supports_reasoning: bool = False
    effort_levels: Annotated[tuple[EffortLevel, ...], Field(strict=False)] = ()
    default_effort: EffortLevel | None = None
    supports_web_search: bool = False
    supports_structured_output: bool = False
    beta_headers: Annotated[tuple[BetaHeader, ...], Field(strict=False)] = ()
    call_timeout_secs: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> ModelCapabilities:
        if not self.realtime:
            for name in (*_REALTIME_FACTS, "transcription_companion_model"):
                if getattr(self, name):
                    raise ValueError(f"{name} is set but realtime is false; set realtime = true")
        elif not (self.realtime_supports_provider_managed_turns or self.realtime_supports_explicit_commit):
            raise ValueError(
                "a realtime model needs a turn mode: set realtime_supports_provider_managed_turns "
                "and/or realtime_supports_explicit_commit to true"
            )
        if self.default_effort is not None and self.default_effort not in self.effort_levels:
            raise ValueError(f"default_effort {self.default_effort!r} is not one of effort_levels")
        return self

    def turn_modes(self) -> tuple[str, ...]:
        """Realtime turn modes: ``provider_managed`` (server VAD) and/or ``explicit_commit``."""
        modes = []
        if self.realtime_supports_provider_managed_turns:
            modes.append("provider_managed")
        if self.realtime_supports_explicit_commit:
            modes.append("explicit_commit")
        return tuple(modes)


class ModelProfile(BaseModel):
    """One catalog row: identity plus capabilities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    provider: ProviderName
    display_name: str
    tier: Tier = "supported"
    model_family: str
    capabilities: ModelCapabilities = ModelCapabilities()
    origin: ModelOrigin = "curated"


# --------------------------------------------------------------------------- wire shapes


class WireModelProfile(BaseModel):
    """``profile`` of a ``models/catalog`` entry (Meerkat ``WireModelProfile`` + realtime facts)."""

    model_family: str
    supports_temperature: bool
    supports_thinking: bool
    supports_reasoning: bool
    supports_web_search: bool
    vision: bool
    image_input: bool
    image_tool_results: bool
    inline_video: bool
    realtime: bool
    image_generation: bool
    params_schema: dict[str, Any]
    beta_headers: list[BetaHeader]
    realtime_supports_provider_managed_turns: bool
    realtime_supports_explicit_commit: bool
    realtime_interrupt_supported: bool
    realtime_transcript_supported: bool
    transcription_companion_model: str | None = None


class CatalogModelEntry(BaseModel):
    id: str
    display_name: str
    tier: Tier
    context_window: int | None = None
    max_output_tokens: int | None = None
    server_id: str | None = None
    profile: WireModelProfile | None = None


class ProviderCatalog(BaseModel):
    provider: str
    default_model_id: str
    models: list[CatalogModelEntry]


class ModelsCatalogResponse(BaseModel):
    """Result of ``models/catalog``."""

    contract_version: ContractVersion = CURRENT
    providers: list[ProviderCatalog]


def params_schema(profile: ModelProfile) -> dict[str, Any]:
    """JSON Schema of the sampling/reasoning parameters the model accepts (OpenAI SDK names)."""
    caps = profile.capabilities
    props: dict[str, Any] = {}
    if caps.supports_temperature:
        top = 1 if profile.provider == "anthropic" else 2
        props["temperature"] = {"type": "number", "minimum": 0, "maximum": top}
    if caps.supports_top_p:
        props["top_p"] = {"type": "number", "minimum": 0, "maximum": 1}
    if caps.supports_top_k:
        props["top_k"] = {"type": "integer", "minimum": 1}
    if caps.effort_levels:
        effort: dict[str, Any] = {"type": "string", "enum": list(caps.effort_levels)}
        if caps.default_effort:
            effort["default"] = caps.default_effort
        props["reasoning_effort"] = effort
    return {"type": "object", "properties": props, "additionalProperties": False}


def _wire_entry(profile: ModelProfile) -> CatalogModelEntry:
    caps = profile.capabilities
    wire = WireModelProfile(
        model_family=profile.model_family,
        supports_temperature=caps.supports_temperature,
        supports_thinking=caps.supports_thinking,
        supports_reasoning=caps.supports_reasoning,
        supports_web_search=caps.supports_web_search,
        vision=caps.vision,
        image_input=caps.vision,
        image_tool_results=caps.image_tool_results,
        inline_video=caps.inline_video,
        realtime=caps.realtime,
        image_generation=caps.image_generation,
        params_schema=params_schema(profile),
        beta_headers=list(caps.beta_headers),
        realtime_supports_provider_managed_turns=caps.realtime_supports_provider_managed_turns,
        realtime_supports_explicit_commit=caps.realtime_supports_explicit_commit,
        realtime_interrupt_supported=caps.realtime_interrupt_supported,
        realtime_transcript_supported=caps.realtime_transcript_supported,
        transcription_companion_model=caps.transcription_companion_model,
    )
    return CatalogModelEntry(
        id=profile.id,
        display_name=profile.display_name,
        tier=profile.tier,
        context_window=caps.context_window,
        max_output_tokens=caps.max_output_tokens,
        profile=wire,
    )


# --------------------------------------------------------------------------- the catalog


def infer_provider(model_id: str) -> ProviderName | None:
    """Place an uncatalogued model by its id prefix (``gpt-``/``o<digit>``, ``claude-``, ``gemini-``).
    Only the provider is inferred, never a capability."""
    for pattern, provider in _PREFIX_PROVIDERS:
        if pattern.match(model_id):
            return provider
    return None


def check_provider(provider: str) -> ProviderName:
    """``provider`` as a :data:`ProviderName`, or an ``InvalidInputError`` listing the valid ones."""
    for name in PROVIDERS:
        if provider == name:
            return name
    raise InvalidInputError(
        f"unknown provider {provider!r} (expected one of {', '.join(PROVIDERS)})",
        details={"provider": provider},
    )


@functools.cache
def _curated_rows() -> tuple[ModelProfile, ...]:
    return tuple(ModelProfile.model_validate(row) for row in CURATED_ROWS)


class Catalog:
    """An immutable set of model profiles with per-provider defaults."""

    def __init__(
        self,
        profiles: Iterable[ModelProfile],
        provider_defaults: Mapping[ProviderName, str],
        default_model: str | None = None,
    ) -> None:
        self._rows: dict[str, ModelProfile] = {}
        for profile in profiles:
            self._rows[profile.id] = profile
        self._provider_defaults = dict(provider_defaults)
        self._default_model = default_model

    @classmethod
    def default(cls) -> Catalog:
        """The curated catalog compiled into mobkat."""
        defaults = {check_provider(name): model for name, model in PROVIDER_DEFAULTS.items()}
        return cls(_curated_rows(), defaults)

    def with_config(self, config: MobkatConfig) -> Catalog:
        """This catalog plus the config's ``[models.<id>]`` entries and its ``default_model``.
        (The config loader has already refused custom ids that clash with curated rows.)"""
        custom = [config.custom_profile(model_id) for model_id in config.models]
        return Catalog([*self._rows.values(), *custom], self._provider_defaults, config.default_model)

    def get(self, model_id: str) -> ModelProfile | None:
        """The catalogued (curated or custom) profile for ``model_id``, if any."""
        return self._rows.get(model_id)

    def rows(self, provider: str | None = None) -> list[ModelProfile]:
        """All catalogued profiles (optionally of one provider), curated first, in catalog order."""
        wanted = None if provider is None else check_provider(provider)
        return [row for row in self._rows.values() if wanted is None or row.provider == wanted]

    def providers(self) -> list[ProviderName]:
        """Providers that have at least one catalogued model, in canonical order."""
        present = {row.provider for row in self._rows.values()}
        return [name for name in PROVIDERS if name in present]

    def default_model(self, provider: str | None = None) -> str:
        """The default model id: the configured ``default_model`` (else OpenAI's default) when no
        provider is given; else that provider's default (its first catalogued model if custom)."""
        if provider is None:
            return self._default_model or self._provider_defaults["openai"]
        name = check_provider(provider)
        if name in self._provider_defaults:
            return self._provider_defaults[name]
        rows = self.rows(name)
        if not rows:
            raise InvalidInputError(
                f"provider {name!r} has no models; declare one under [models.<id>] with "
                f'provider = "{name}"',
                details={"provider": name},
            )
        return rows[0].id

    def resolve(self, model_id: str, provider: str | None = None) -> ModelProfile:
        """The profile for ``model_id``. Uncatalogued ids get a profile with every capability false
        (so ``realtime`` is false), placed by ``provider`` or by the id prefix; with neither, raise
        :class:`UnknownModelError`. A provider contradicting a catalogued row is an error."""
        wanted = None if provider is None else check_provider(provider)
        row = self._rows.get(model_id)
        if row is not None:
            if wanted is not None and wanted != row.provider:
                raise InvalidInputError(
                    f"model {model_id!r} belongs to provider {row.provider!r} in the catalog, not "
                    f"{wanted!r}; drop the provider or pass {row.provider!r}",
                    details={"model": model_id, "provider": wanted, "catalog_provider": row.provider},
                )
            return row
        placed = wanted or infer_provider(model_id)
        if placed is None or not model_id:
            raise UnknownModelError(
                f"unknown model {model_id!r}: it is not in the catalog and its provider cannot be "
                f"inferred from the name; pass a provider ({', '.join(PROVIDERS)}) or declare it "
                f'under [models."{model_id}"] with a provider in .mobkat/config.toml',
                details={"model": model_id},
            )
        return ModelProfile(
            id=model_id, provider=placed, display_name=model_id, model_family="unknown", origin="inferred"
        )

    def to_wire(self, provider: str | None = None) -> dict[str, Any]:
        """The ``models/catalog`` result (``ModelsCatalogResponse``) as JSON-ready data."""
        names = self.providers() if provider is None else [check_provider(provider)]
        groups = [
            ProviderCatalog(
                provider=name,
                default_model_id=self.default_model(name),
                models=[_wire_entry(row) for row in self.rows(name)],
            )
            for name in names
            if self.rows(name)
        ]
        response = ModelsCatalogResponse(providers=groups)
        return response.model_dump(mode="json", exclude_none=True)
