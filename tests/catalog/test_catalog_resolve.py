"""The curated catalog, model resolution, custom models from config, and the wire projection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mobkat.catalog import Catalog, ModelCapabilities, ModelsCatalogResponse
from mobkat.config import MobkatConfig, load_config
from mobkat.contract import CONTRACT_VERSION
from mobkat.errors import InvalidInputError, UnknownModelError

CATALOG = Catalog.default()


def config_with(tmp_path: Path, text: str) -> MobkatConfig:
    path = tmp_path / ".mobkat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return load_config(project_dir=tmp_path, user_dir=tmp_path / "no-user-config")


def test_gpt_realtime_2_is_the_only_realtime_row() -> None:
    assert [row.id for row in CATALOG.rows() if row.capabilities.realtime] == ["gpt-realtime-2"]


def test_gpt_realtime_2_carries_the_reference_facts() -> None:
    row = CATALOG.resolve("gpt-realtime-2")
    caps = row.capabilities
    assert (row.provider, row.display_name, row.model_family) == ("openai", "GPT Realtime 2", "gpt-realtime")
    assert (caps.context_window, caps.max_output_tokens) == (128_000, 32_000)
    assert caps.vision and not caps.inline_video
    assert caps.turn_modes() == ("provider_managed", "explicit_commit")
    assert caps.realtime_interrupt_supported and caps.realtime_transcript_supported
    assert caps.transcription_companion_model == "gpt-4o-mini-transcribe"
    assert not caps.supports_structured_output
    assert caps.effort_levels == ("minimal", "low", "medium", "high", "xhigh")
    assert caps.default_effort == "low"


def test_catalog_has_the_named_rows_with_unique_ids() -> None:
    ids = [row.id for row in CATALOG.rows()]
    assert len(ids) == len(set(ids))
    for model_id, provider in [
        ("gpt-5.6", "openai"),
        ("gpt-5.5", "openai"),
        ("gpt-5.5-pro", "openai"),
        ("gpt-5.4", "openai"),
        ("gpt-5.4-mini", "openai"),
        ("claude-opus-4-8", "anthropic"),
        ("claude-opus-4-7", "anthropic"),
        ("claude-sonnet-4-6", "anthropic"),
        ("claude-haiku-4-5", "anthropic"),
        ("gemini-3.5-flash", "gemini"),
        ("gemini-3.1-pro-preview", "gemini"),
    ]:
        assert CATALOG.resolve(model_id).provider == provider


def test_every_provider_default_is_one_of_its_rows() -> None:
    assert CATALOG.providers() == ["openai", "anthropic", "gemini"]
    for provider in CATALOG.providers():
        default = CATALOG.default_model(provider)
        assert default in [row.id for row in CATALOG.rows(provider)]
    assert CATALOG.default_model() == CATALOG.default_model("openai") == "gpt-5.5"


@pytest.mark.parametrize(
    ("model_id", "provider"),
    [
        ("gpt-realtime-mini", "openai"),
        ("o4-mini", "openai"),
        ("claude-3-opus", "anthropic"),
        ("gemini-2.0-flash-live", "gemini"),
    ],
)
def test_uncatalogued_ids_are_placed_by_prefix_with_no_capabilities(model_id: str, provider: str) -> None:
    profile = CATALOG.resolve(model_id)
    assert profile.provider == provider
    assert profile.origin == "inferred"
    assert profile.capabilities == ModelCapabilities()
    assert profile.capabilities.realtime is False


def test_an_explicit_provider_places_an_unknown_model() -> None:
    profile = CATALOG.resolve("qwen3-32b", provider="self_hosted")
    assert (profile.provider, profile.capabilities.realtime) == ("self_hosted", False)


def test_an_unknown_model_without_provider_names_model_and_remedy() -> None:
    with pytest.raises(UnknownModelError) as caught:
        CATALOG.resolve("qwen3-32b")
    message = str(caught.value)
    assert "'qwen3-32b'" in message
    assert "pass a provider" in message
    assert '[models."qwen3-32b"]' in message
    assert caught.value.rpc_code == -32602


def test_a_provider_contradicting_the_catalog_is_an_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        CATALOG.resolve("gpt-5.5", provider="anthropic")
    assert "'gpt-5.5' belongs to provider 'openai' in the catalog, not 'anthropic'" in str(caught.value)
    assert CATALOG.resolve("gpt-5.5", provider="openai").id == "gpt-5.5"


def test_an_unknown_provider_name_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown provider 'azure'"):
        CATALOG.resolve("gpt-5.5", provider="azure")


def test_custom_models_from_config(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
default_model = "llama"

[providers.self_hosted]
base_url = "http://localhost:8000/v1"

[models.llama]
provider = "self_hosted"
context_window = 131072

[models.house-voice]
provider = "other"
display_name = "House Voice"
realtime = true
realtime_supports_provider_managed_turns = true
""",
    )
    catalog = CATALOG.with_config(config)
    llama = catalog.resolve("llama")
    assert (llama.provider, llama.origin, llama.display_name) == ("self_hosted", "custom", "llama")
    assert llama.capabilities.realtime is False  # self-hosted defaults to false
    assert llama.capabilities.context_window == 131072
    voice = catalog.resolve("house-voice")
    assert voice.capabilities.realtime and voice.capabilities.turn_modes() == ("provider_managed",)
    assert catalog.providers() == ["openai", "anthropic", "gemini", "self_hosted", "other"]
    assert catalog.default_model() == "llama"
    assert catalog.default_model("self_hosted") == "llama"
    assert catalog.default_model("openai") == "gpt-5.5"
    with pytest.raises(InvalidInputError, match="provider 'self_hosted' has no models"):
        CATALOG.default_model("self_hosted")
    assert CATALOG.get("llama") is None  # the curated catalog itself is unchanged


def test_to_wire_shape(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[models.llama]\nprovider = "self_hosted"\n')
    wire = CATALOG.with_config(config).to_wire()
    json.dumps(wire)  # JSON-ready
    ModelsCatalogResponse.model_validate(wire)
    assert wire["contract_version"] == {"major": 0, "minor": 8, "patch": 26} and CONTRACT_VERSION == "0.8.26"
    groups = {group["provider"]: group for group in wire["providers"]}
    assert list(groups) == ["openai", "anthropic", "gemini", "self_hosted"]
    assert set(groups["openai"]) == {"provider", "default_model_id", "models"}
    realtime = [
        (group["provider"], entry["id"])
        for group in wire["providers"]
        for entry in group["models"]
        if entry["profile"]["realtime"]
    ]
    assert realtime == [("openai", "gpt-realtime-2")]
    entry = next(e for e in groups["openai"]["models"] if e["id"] == "gpt-realtime-2")
    assert {"id", "display_name", "tier", "context_window", "max_output_tokens", "profile"} == set(entry)
    profile = entry["profile"]
    for key in (
        "model_family", "supports_temperature", "supports_thinking", "supports_reasoning",
        "supports_web_search", "vision", "image_input", "image_tool_results", "inline_video",
        "realtime", "image_generation", "params_schema", "beta_headers",
        "realtime_supports_provider_managed_turns", "realtime_supports_explicit_commit",
        "realtime_interrupt_supported", "realtime_transcript_supported", "transcription_companion_model",
    ):
        assert key in profile, key
    assert profile["params_schema"]["properties"]["reasoning_effort"]["default"] == "low"
    llama = groups["self_hosted"]
    assert llama["default_model_id"] == "llama"
    assert "context_window" not in llama["models"][0]  # unknown limits are omitted, not null
    assert llama["models"][0]["profile"]["params_schema"] == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


def test_to_wire_for_one_provider() -> None:
    wire = CATALOG.to_wire("anthropic")
    assert [group["provider"] for group in wire["providers"]] == ["anthropic"]
    beta = wire["providers"][0]["models"][0]["profile"]["beta_headers"][0]
    assert set(beta) == {"feature", "header_name", "header_value"}


def test_capabilities_refuse_realtime_facts_without_realtime() -> None:
    with pytest.raises(ValueError, match="realtime_supports_explicit_commit is set but realtime is false"):
        ModelCapabilities(realtime_supports_explicit_commit=True)
    with pytest.raises(ValueError, match="needs a turn mode"):
        ModelCapabilities(realtime=True)
