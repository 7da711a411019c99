"""Curated catalog rows (plain data, validated into ``ModelProfile`` by ``Catalog.default()``).

Facts follow Meerkat's compiled-in catalog (``meerkat-models/src/capabilities/*.rs``), which cites
the providers' model pages. Capabilities not stated here are false. ``realtime`` is data: only
``gpt-realtime-2`` has it. Change a row here, never by inferring from a model name.
"""

from __future__ import annotations

from typing import Any

_GPT5_EFFORT = ["none", "low", "medium", "high", "xhigh"]
_GPT56_EFFORT = [*_GPT5_EFFORT, "max"]
_CLAUDE_TOP_EFFORT = ["low", "medium", "high", "xhigh", "max"]

_GPT5: dict[str, Any] = {
    "context_window": 1_050_000,
    "max_output_tokens": 128_000,
    "vision": True,
    "image_tool_results": True,
    "image_generation": True,
    "supports_reasoning": True,
    "effort_levels": _GPT5_EFFORT,
    "default_effort": "none",
    "supports_web_search": True,
    "supports_structured_output": True,
    "call_timeout_secs": 600,
}

_ANTHROPIC_BETAS = [
    {"feature": "compaction", "header_name": "anthropic-beta", "header_value": "compact-2026-01-12"},
    {
        "feature": "structured_output",
        "header_name": "anthropic-beta",
        "header_value": "structured-outputs-2025-11-13",
    },
    {
        "feature": "interleaved_thinking",
        "header_name": "anthropic-beta",
        "header_value": "interleaved-thinking-2025-05-14",
    },
]
_CLAUDE: dict[str, Any] = {
    "context_window": 1_000_000,
    "max_output_tokens": 128_000,
    "vision": True,
    "image_tool_results": True,
    "supports_thinking": True,
    "effort_levels": _CLAUDE_TOP_EFFORT,
    "supports_web_search": True,
    "supports_structured_output": True,
    "beta_headers": _ANTHROPIC_BETAS,
    "call_timeout_secs": 300,
}

_GEMINI3: dict[str, Any] = {
    "context_window": 1_048_576,
    "max_output_tokens": 65_536,
    "vision": True,
    "image_tool_results": True,
    "inline_video": True,
    "supports_temperature": True,
    "supports_top_p": True,
    "supports_top_k": True,
    "supports_thinking": True,
    "supports_web_search": True,
    "supports_structured_output": True,
}


def _row(
    model_id: str, provider: str, display: str, tier: str, family: str, **caps: Any
) -> dict[str, Any]:
    return {
        "id": model_id,
        "provider": provider,
        "display_name": display,
        "tier": tier,
        "model_family": family,
        "capabilities": caps,
    }


CURATED_ROWS: list[dict[str, Any]] = [
    # OpenAI
    _row(
        "gpt-realtime-2",
        "openai",
        "GPT Realtime 2",
        "recommended",
        "gpt-realtime",
        context_window=128_000,
        max_output_tokens=32_000,
        vision=True,
        image_generation=True,
        realtime=True,
        realtime_supports_provider_managed_turns=True,
        realtime_supports_explicit_commit=True,
        realtime_interrupt_supported=True,
        realtime_transcript_supported=True,
        transcription_companion_model="gpt-4o-mini-transcribe",
        supports_temperature=True,
        supports_top_p=True,
        supports_reasoning=True,
        effort_levels=["minimal", "low", "medium", "high", "xhigh"],
        default_effort="low",
        call_timeout_secs=600,
    ),
    _row(
        "gpt-5.6", "openai", "GPT-5.6", "supported", "gpt-5",
        **{**_GPT5, "effort_levels": _GPT56_EFFORT, "default_effort": "medium"},
    ),
    _row("gpt-5.5", "openai", "GPT-5.5", "recommended", "gpt-5", **_GPT5),
    _row(
        "gpt-5.5-pro", "openai", "GPT-5.5 Pro", "recommended", "gpt-5",
        **{**_GPT5, "call_timeout_secs": 7200},
    ),
    _row("gpt-5.4", "openai", "GPT-5.4", "supported", "gpt-5", **_GPT5),
    _row(
        "gpt-5.4-mini", "openai", "GPT-5.4 Mini", "supported", "gpt-5",
        **{**_GPT5, "context_window": 128_000, "max_output_tokens": 16_384},
    ),
    # Anthropic (reached through its OpenAI-compatible endpoint)
    _row(
        "claude-opus-4-8", "anthropic", "Claude Opus 4.8", "recommended", "claude-opus-4",
        **{**_CLAUDE, "default_effort": "high"},
    ),
    _row("claude-opus-4-7", "anthropic", "Claude Opus 4.7", "supported", "claude-opus-4", **_CLAUDE),
    _row(
        "claude-sonnet-4-6", "anthropic", "Claude Sonnet 4.6", "recommended", "claude-sonnet-4",
        **{
            **_CLAUDE,
            "max_output_tokens": 64_000,
            "supports_temperature": True,
            "supports_top_p": True,
            "supports_top_k": True,
            "effort_levels": ["low", "medium", "high", "max"],
            "call_timeout_secs": 120,
        },
    ),
    _row(
        "claude-haiku-4-5", "anthropic", "Claude Haiku 4.5", "recommended", "claude-haiku-4",
        **{
            **_CLAUDE,
            "context_window": 200_000,
            "max_output_tokens": 64_000,
            "supports_temperature": True,
            "supports_top_p": True,
            "supports_top_k": True,
            "effort_levels": [],
            "beta_headers": _ANTHROPIC_BETAS[1:],
            "call_timeout_secs": 60,
        },
    ),
    # Gemini (reached through its OpenAI-compatible endpoint)
    _row(
        "gemini-3.5-flash", "gemini", "Gemini 3.5 Flash", "recommended", "gemini-3",
        **_GEMINI3, call_timeout_secs=120,
    ),
    _row(
        "gemini-3.1-pro-preview", "gemini", "Gemini 3.1 Pro Preview", "supported", "gemini-3",
        **_GEMINI3, call_timeout_secs=600,
    ),
]

PROVIDER_DEFAULTS: dict[str, str] = {
    "openai": "gpt-5.5",
    "anthropic": "claude-opus-4-8",
    "gemini": "gemini-3.5-flash",
}
"""Each curated provider's default model (custom providers default to their first model)."""
