"""Which session store every process of a mob opens: the head, each member host and the driver share it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mobkat.store import SessionStore, SqliteSessionStore


class StoreSpec(BaseModel):
    """``sqlite`` (a file every node can open: one machine, or a shared filesystem) or ``postgres`` (a DSN)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sqlite", "postgres"]
    location: str
    """The SQLite file's path, or the PostgreSQL DSN (never printed: see :meth:`describe`)."""
    schema_name: str = "mobkat"

    @classmethod
    def mob_postgres(cls, dsn: str, mob_id: str) -> StoreSpec:
        """A mob's histories in PostgreSQL at ``dsn``: schema ``mob_<id>`` (lower case, at most 63 characters),
        whether the mob runs in one process or on Ray."""
        return cls(kind="postgres", location=dsn, schema_name=f"mob_{mob_id}".lower()[:63])

    def open(self) -> SessionStore:
        if self.kind == "sqlite":
            return SqliteSessionStore(Path(self.location))
        from mobkat.store.postgres import PostgresSessionStore  # the optional extra
        return PostgresSessionStore(self.location, schema=self.schema_name)

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite {self.location}"
        from mobkat.store.postgres import describe_dsn
        return f"postgres {describe_dsn(self.location)}"

    def __repr__(self) -> str:
        return f"StoreSpec({self.describe()})"

    __str__ = __repr__


__all__ = ["StoreSpec"]
