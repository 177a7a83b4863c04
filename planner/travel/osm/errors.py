"""The errors of the OpenStreetMap road-network package."""

from __future__ import annotations

__all__ = ["NetworkError", "UnreachableLegError"]


class NetworkError(ValueError):
    """A road network cannot be built or used (bad file, no roads, unknown mode)."""


class UnreachableLegError(NetworkError):
    """A leg's endpoint lies too far from the network to be routed."""
