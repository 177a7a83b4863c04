"""API test fixtures (defined in apisupport.py): ``backend`` (SQLite and PostgreSQL), ``client``, ``world``."""

from __future__ import annotations

from apisupport import backend, client, world

__all__ = ["backend", "client", "world"]
