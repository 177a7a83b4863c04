"""Content-addressed on-disk cache for road graphs and travel matrices (atomic .npz files)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DiskCache", "content_key", "default_cache_dir", "file_digest"]

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """Return the cache directory: ``$SALPIMI_CACHE_DIR`` or ``~/.cache/salpimi``.

    Returns
    -------
    pathlib.Path
        The directory (not created here).
    """
    env = os.environ.get("SALPIMI_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "salpimi"


def file_digest(path: Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes.

    Parameters
    ----------
    path
        The file to hash.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def content_key(*parts: str | bytes) -> str:
    """Combine parts (strings or bytes) into one short, stable hex key.

    Parameters
    ----------
    *parts
        Anything that identifies the content: digests, modes, serialised settings.

    Returns
    -------
    str
        The first 32 hex characters of the SHA-256 of the length-prefixed parts.
    """
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskCache:
    """A directory of ``<kind>-<key>.npz`` files written atomically.

    Parameters
    ----------
    root
        The cache directory; created on first write.
    """

    root: Path

    def path(self, kind: str, key: str, *, suffix: str = ".npz") -> Path:
        """Return where an entry of ``kind`` with ``key`` lives (it may not exist)."""
        return self.root / f"{kind}-{key}{suffix}"

    def load(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        """Return the arrays stored under ``kind``/``key``, or ``None`` on a miss.

        A corrupt or unreadable entry counts as a miss.
        """
        target = self.path(kind, key)
        if not target.is_file():
            return None
        try:
            with np.load(target, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError):
            return None

    def store(self, kind: str, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Write ``arrays`` under ``kind``/``key`` atomically and return the path."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(kind, key)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{kind}-", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **dict(arrays))  # type: ignore[arg-type]
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def scratch_file(self, *, suffix: str) -> Path:
        """Return a fresh temporary file path inside the cache directory (caller deletes it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".scratch-", suffix=suffix)
        os.close(fd)
        return Path(tmp)
