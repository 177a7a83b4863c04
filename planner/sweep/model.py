"""A sweep's plain records: the outcome of each task, the sweep's result and its progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Outcome", "SweepProgress", "SweepResult"]

Status = Literal["ok", "failed", "cancelled"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One task's fate.

    ``status`` is ``"ok"`` (``result`` holds the task function's return value), ``"failed"`` (it raised or its
    worker process died on both tries; ``error`` says why) or ``"cancelled"`` (the sweep stopped first).
    ``attempts`` counts tries in this sweep (0 when the result came from the store); ``elapsed_s`` is the
    run's own time in its worker (not part of the result, so results compare across engines).
    """

    key: str
    status: Status
    result: Any = None
    error: str | None = None
    attempts: int = 0
    elapsed_s: float | None = None
    from_store: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepProgress:
    """Where a sweep stands: runs ``done`` (succeeded or failed for good), ``running``, ``left`` to start,
    ``failed`` among the done, and the estimated seconds left (None before the first run of this sweep ends)."""

    total: int
    done: int
    running: int
    left: int
    failed: int
    elapsed_s: float
    eta_s: float | None
    from_store: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """Every task's outcome, in the order the tasks were given."""

    outcomes: tuple[Outcome, ...]
    engine: str
    workers: int
    wall_s: float
    stopped: bool = False
    loads: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))

    @property
    def results(self) -> list[Any]:
        """The results of the tasks, None where a task failed or did not run."""
        return [o.result if o.status == "ok" else None for o in self.outcomes]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        """Every task succeeded."""
        return all(o.status == "ok" for o in self.outcomes)
