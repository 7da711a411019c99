"""The Meerkat wire-contract version mobkat speaks.

``initialize`` reports it as the string :data:`CONTRACT_VERSION`; ``capabilities/get`` and ``models/catalog``
report it as an object ``{"major", "minor", "patch"}`` (:class:`ContractVersion`), as upstream does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

CONTRACT_VERSION = "0.8.26"


class ContractVersion(BaseModel):
    """``{"major": 0, "minor": 8, "patch": 26}``; also parses the ``"0.8.26"`` string form."""

    model_config = ConfigDict(frozen=True)

    major: int
    minor: int
    patch: int

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise ValueError(f"contract version {value!r} is not major.minor.patch")
            return dict(zip(("major", "minor", "patch"), map(int, parts), strict=True))
        return value

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


CURRENT = ContractVersion.model_validate(CONTRACT_VERSION)
"""This build's contract version as the object ``capabilities/get`` and ``models/catalog`` send."""
