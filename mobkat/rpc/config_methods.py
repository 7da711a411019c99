"""``config/set`` (replace) and ``config/patch`` (RFC 7386 merge patch): validated writes of one config file.

Scope (mobkat extension ``scope``): ``project`` writes ``<context root>/.mobkat/config.toml``, ``user``
writes ``<user config root>/config.toml``; the default is ``project`` when the server was started with
``--context-root``, else ``user``. The written file must validate on its own and the merged configuration
(user < project) must load and pass its checks (models known, ...); otherwise nothing is written and the
answer is -32602 naming file, key and problem. ``expected_generation`` (optional) must equal the current
generation (-32602 ``Generation conflict: expected N, current M``). A write applies to later sessions at once
(default model, providers, custom models); the answer is ``config/get``'s plus ``written``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mobkat.catalog import Catalog
from mobkat.config import CONFIG_FILENAME, MobkatConfig, load_config, user_config_dir
from mobkat.errors import ConfigConflictError, ConfigError
from mobkat.providers.endpoints import EndpointResolver
from mobkat.rpc.registry import Call, MethodRegistry
from mobkat.rpc.sessions import config_get
from mobkat.toml_source import TomlDocument, load_toml, validate_document
from mobkat.toml_write import dumps
from mobkat.wire.session import NoParams

Scope = Literal["project", "user"]
_WRITES = asyncio.Lock()


class _WriteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_generation: int | None = Field(default=None, ge=0)
    scope: Scope | None = None


class ConfigSetParams(_WriteParams):
    """``{"config": {...}, "expected_generation"?, "scope"?}`` or the bare config object."""

    config: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        return _wrap(data, "config")


class ConfigPatchParams(_WriteParams):
    """``{"patch": {...}, "expected_generation"?, "scope"?}`` or the bare patch object (``null`` deletes)."""

    patch: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        return _wrap(data, "patch")


def _wrap(data: Any, key: str) -> Any:
    if isinstance(data, dict) and key not in data:
        rest = {k: v for k, v in data.items() if k not in ("expected_generation", "scope")}
        return {**{k: v for k, v in data.items() if k in ("expected_generation", "scope")}, key: rest}
    return data


def register(registry: MethodRegistry) -> None:
    family = registry.family("config", "The merged configuration and where each value came from (config/get)")
    family.add("config/set", ConfigSetParams, config_set)
    family.add("config/patch", ConfigPatchParams, config_patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def config_set(call: Call, params: ConfigSetParams) -> dict[str, Any]:
    return await _write(call, params, lambda _current: params.config)


async def config_patch(call: Call, params: ConfigPatchParams) -> dict[str, Any]:
    return await _write(call, params, lambda current: merge_patch(current, params.patch))


def _scope_file(call: Call, scope: Scope | None) -> tuple[Scope, Path]:
    options = call.host.options
    chosen: Scope = scope or ("project" if options.context_root is not None else "user")
    if chosen == "project":
        return chosen, (options.context_root or Path()) / ".mobkat" / CONFIG_FILENAME
    return chosen, (options.user_config_root or user_config_dir()) / CONFIG_FILENAME


async def _write(call: Call, params: _WriteParams, change: Any) -> dict[str, Any]:
    host = call.host
    async with _WRITES:
        current_generation = host.config_generation
        if params.expected_generation is not None and params.expected_generation != current_generation:
            raise ConfigConflictError(
                f"Generation conflict: expected {params.expected_generation}, current {current_generation}",
                details={"expected": params.expected_generation, "current": current_generation})
        scope, path = _scope_file(call, params.scope)
        config = await asyncio.to_thread(_replace_file, call, path, change)
        host.config = config
        services = host.services
        services.config = config
        services.catalog = Catalog.default().with_config(config)
        services.endpoints = EndpointResolver(config, simulator_base_url=services.endpoints.simulator_base_url)
        host.config_generation = current_generation + 1
    result = await config_get(call, NoParams())
    result["written"] = {"scope": scope, "file": str(path)}
    return result


def _replace_file(call: Call, path: Path, change: Any) -> MobkatConfig:
    """Write the new file, load the merged config; on any problem put the old file back (blocking)."""
    exists = path.exists()
    current: dict[str, Any] = load_toml(path).data if exists else {}
    data = change(current)
    validate_document(MobkatConfig, TomlDocument(path=str(path), data=data))
    text = dumps(data)
    old_text = path.read_text(encoding="utf-8") if exists else None
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, text)
    try:
        options = call.host.options
        return load_config(project_dir=options.context_root, user_dir=options.user_config_root)
    except ConfigError:
        if old_text is None:
            path.unlink(missing_ok=True)
        else:
            _atomic_write(path, old_text)
        raise


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
