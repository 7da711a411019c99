"""One server per state root and realm: an exclusive ``flock`` on ``<realm root>/server.lock``.

The lock is taken before the server opens the realm's store and held (one open file descriptor) for
the server's whole life. The kernel releases it when the process exits in any way, ``kill -9``
included, so a crashed server never leaves a stale lock behind. The holder writes its pid into the
file after locking, so a refused server can name it. The file itself is never deleted (deleting a
lock file races with the next server opening it).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from mobkat.errors import RealmLockedError, StoreError

LOCK_FILE = "server.lock"


def holder_pid(path: Path) -> int | None:
    """The pid written into the lock file by its holder, or ``None`` if unknown (unreadable, not yet written)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class RealmLock:
    """An exclusive, process-lifetime lock on a realm directory (see module docstring)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path, *, realm_id: str) -> RealmLock:
        """Lock ``directory/server.lock`` (creating both) or raise ``RealmLockedError`` naming the holder."""
        path = directory / LOCK_FILE
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's pid must survive
        except OSError as exc:
            raise StoreError(f"realm {realm_id}: cannot create its lock file {path}: {exc}",
                             details={"realm_id": realm_id, "path": str(path)}) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StoreError(f"realm {realm_id}: cannot lock {path}: {exc} (the state root must be on a "
                                 "file system with flock support)", details={"realm_id": realm_id, "path": str(path)}
                                 ) from exc
            pid = holder_pid(path)
            holder = f"pid {pid}" if pid is not None else "pid unknown"
            raise RealmLockedError(
                f"realm {realm_id!r} in state root {directory.parent.parent} is already served by another mobkat "
                f"server ({holder}; lock {path}); stop that server first, or use another --realm or --state-root",
                details={"realm_id": realm_id, "pid": pid, "lock_file": str(path)}) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(path, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Clear the pid and unlock (idempotent). Exiting the process releases the lock too."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # the lock still goes away with the descriptor
        finally:
            os.close(fd)

    def __enter__(self) -> RealmLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
