"""Reading pinned model files out of installed data packages, checking size and SHA-256 first."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from mobkat.errors import SpeechModelError
from mobkat.speech.pins import PinnedFile


def package_installed(name: str) -> bool:
    """True when the import package ``name`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def pinned_path(pin: PinnedFile) -> Path:
    """Where ``pin`` lives: ``<package>/data/<name>`` of the installed package (not opened)."""
    spec = importlib.util.find_spec(pin.package)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechModelError(f"{pin.name}: package {pin.package} is not installed (pip install 'mobkat[speech]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / pin.name


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_pinned(pin: PinnedFile) -> bytes:
    """The bytes of ``pin``; :class:`SpeechModelError` if missing or not matching its pin."""
    path = pinned_path(pin)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpeechModelError(f"{path}: cannot read the pinned model file ({exc})") from exc
    if len(data) != pin.size:
        raise SpeechModelError(f"{path}: {len(data)} bytes, the pin says {pin.size} (not the pinned file)",
                               details={"file": str(path)})
    digest = sha256_hex(data)
    if digest != pin.sha256:
        raise SpeechModelError(f"{path}: SHA-256 {digest}, the pin says {pin.sha256} (not the pinned file)",
                               details={"file": str(path)})
    return data


def verify_pinned(pin: PinnedFile) -> Path:
    """Check ``pin`` on disk and return its path (for loaders that want a path)."""
    read_pinned(pin)
    return pinned_path(pin)


__all__ = ["SpeechModelError", "package_installed", "pinned_path", "read_pinned", "sha256_hex", "verify_pinned"]
