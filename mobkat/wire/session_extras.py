"""Params and results of ``session/inject_context|fork_at|export_atif``, ``comms/peers`` and ``realm/list|get``.

Upstream Meerkat 0.8.26 shapes (what ``meerkat-sdk`` sends and checks). Shared by the server and the client.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mobkat.history import TextContent

MAX_CONTEXT_CHARS = 64 * 1024
"""Longest ``session/inject_context`` text (a system message is context, not a document store)."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InjectContextParams(_Params):
    """``session/inject_context``: one durable system message. The SDK sends ``content`` (a text block);
    older clients send ``text``. Exactly one of them."""

    session_id: str = Field(min_length=1)
    content: TextContent | None = None
    text: str | None = None
    source: str | None = Field(default=None, min_length=1, max_length=200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_text(self) -> InjectContextParams:
        if (self.content is None) == (self.text is None):
            raise ValueError("give exactly one of content ({\"type\": \"text\", \"text\": ...}) or text")
        if not self.body.strip():
            raise ValueError("the context text is empty")
        if len(self.body) > MAX_CONTEXT_CHARS:
            raise ValueError(f"the context text has {len(self.body)} characters; at most {MAX_CONTEXT_CHARS}")
        return self

    @property
    def body(self) -> str:
        return self.content.text if self.content is not None else self.text or ""


class InjectContextResult(BaseModel):
    """``applied``: appended now (the model sees it from the next turn); ``duplicate``: the idempotency key
    was used before with the same text and source, nothing was appended."""

    status: Literal["applied", "duplicate"]


class ForkAtParams(_Params):
    """``session/fork_at``: a new session whose history is the source's first ``message_index`` rows."""

    session_id: str = Field(min_length=1)
    message_index: int = Field(ge=0)
    running_behavior: Literal["reject"] | None = None
    tool_access_policy: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _no_policy(self) -> ForkAtParams:
        if self.tool_access_policy:
            raise ValueError("tool_access_policy is not supported by mobkat forks (a fork keeps the source's "
                             "tools); leave it out")
        return self


class CacheInheritance(BaseModel):
    """mobkat authors no provider cache breakpoints, so a fork never inherits cache evidence."""

    status: Literal["unavailable"] = "unavailable"
    message_count: int
    reason: Literal["no_authored_breakpoint_at_boundary"] = "no_authored_breakpoint_at_boundary"


class ForkResult(BaseModel):
    source_session_id: str
    session_id: str
    message_count: int
    cache_inheritance: CacheInheritance


class ExportAtifParams(_Params):
    """``session/export_atif``: the committed history as an ATIF trajectory."""

    session_id: str = Field(min_length=1)
    agent_name: str | None = None
    agent_version: str | None = None
    model_name: str | None = None


class SessionRefParams(_Params):
    session_id: str = Field(min_length=1)


class Peer(BaseModel):
    """One peer a mob member's session may message (a member it is wired to)."""

    name: str
    """The comms name ``<mob_id>/<role>/<agent_identity>``."""
    mob_id: str
    agent_identity: str
    role: str
    session_id: str
    reachable: bool


class PeersResult(BaseModel):
    session_id: str
    peers: list[Peer]


class RealmGetParams(_Params):
    realm_id: str = Field(min_length=1)


class RealmSummary(BaseModel):
    """One ``realm/list`` row (upstream's fields; mobkat realms have one backend and no auth bindings)."""

    realm_id: str
    default_binding: str | None = None
    backend_count: int
    auth_profile_count: int = 0
    binding_count: int = 0


class RealmDetails(BaseModel):
    """``realm/get``: the realm's backend and where it lives (no auth profiles or bindings in mobkat)."""

    realm_id: str
    backend: str
    root: str
    current: bool
    session_count: int | None
    auth_profiles: list[dict[str, Any]] = Field(default_factory=list)
    bindings: list[dict[str, Any]] = Field(default_factory=list)
    default_binding: str | None = None
