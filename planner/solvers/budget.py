"""One time budget for a solve and each of its stages: a wall-clock cap and an optional deterministic work budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..params import SolveParams

__all__ = ["Deadline", "pace"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Deadline:
    """A wall-clock cap counted from ``started`` and, in the deterministic mode, a work budget.

    Every engine takes one of these instead of doing its own arithmetic on ``time_limit_s``: it asks
    :meth:`remaining` how long its search may run, hands :meth:`split` a share to a first stage and the
    rest to the next, and stops early once :meth:`expired`.  The clock is ``time.monotonic`` (one clock
    for the whole machine, so a forked child honours its parent's deadline).  ``work`` (solutions OR-Tools
    accepts, and search branches in proportion; PyVRP iterations in proportion; VROOM runs to completion) is set
    in the deterministic mode, where it decides when a
    search stops and the cap is only a safety net: the same input, seed and work budget give the same plan
    whatever the machine's load.

    Parameters
    ----------
    cap_s
        Seconds this budget may use, from ``started``.
    started
        ``time.monotonic()`` when the budget began.
    work
        Work budget in the deterministic mode; ``None`` when the clock alone decides.
    grace_s
        Seconds a search may go on past the cap once its best plan serves every visit (the caller then needs
        none of the time it set aside for the coverage bound); engines that cannot tell stop at the cap.
    """

    cap_s: float
    started: float
    work: int | None = None
    grace_s: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.cap_s, int | float) and self.cap_s >= 0):
            raise ValueError(f"cap_s: must be a non-negative number of seconds, got {self.cap_s!r}")
        if self.work is not None and (not isinstance(self.work, int) or self.work < 1):
            raise ValueError(f"work: must be a positive integer or None, got {self.work!r}")

    @classmethod
    def start(cls, seconds: float, *, work: int | None = None) -> Deadline:
        """A budget of ``seconds`` beginning now."""
        return cls(cap_s=float(seconds), started=time.monotonic(), work=work)

    @classmethod
    def of(cls, params: SolveParams) -> Deadline:
        """The whole budget of ``params`` from now: ``time_limit_s``, and ``solution_limit`` when deterministic."""
        return cls.start(params.time_limit_s, work=params.solution_limit if params.deterministic else None)

    @property
    def deterministic(self) -> bool:
        """The work budget decides when a search stops (the clock is only a safety cap)."""
        return self.work is not None

    @property
    def ends_at(self) -> float:
        """``time.monotonic()`` at which the budget runs out."""
        return self.started + self.cap_s

    def elapsed(self) -> float:
        """Seconds since the budget began."""
        return time.monotonic() - self.started

    def remaining(self, *, floor: float = 0.0) -> float:
        """Seconds left, never less than ``floor`` (a stage always gets a little time to return something)."""
        return max(floor, self.ends_at - time.monotonic())

    def expired(self) -> bool:
        """True once the cap is reached."""
        return time.monotonic() >= self.ends_at

    def split(self, fraction: float, *, floor: float = 0.0) -> Deadline:
        """A budget beginning now with ``fraction`` of the time left (at least ``floor`` seconds) and the same
        work budget: the first stage of an engine gets it, the next one what is left of ``self``."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction: must lie in (0, 1], got {fraction!r}")
        now = time.monotonic()
        return Deadline(cap_s=max(floor, fraction * (self.ends_at - now)), started=now, work=self.work)

    def reserve(self, seconds: float, *, floor: float = 0.0) -> Deadline:
        """A budget beginning now that ends ``seconds`` before this one (kept for what runs afterwards), yet
        lasts at least ``floor`` seconds."""
        now = time.monotonic()
        return Deadline(cap_s=max(floor, self.ends_at - now - seconds), started=now, work=self.work)


def pace(wall_s: float, cpu_s: float) -> float:
    """Seconds of the wall clock per second of this process's CPU over a stretch of CPU-bound work (compiling the
    day): 1 on an idle machine, 2 when another job shares the core, so that an estimate in CPU seconds becomes one
    on the clock.  At least 1 and at most 10; 1 when the stretch is too short to tell (under 20 ms of CPU)."""
    if cpu_s < 0.02:
        return 1.0
    return min(10.0, max(1.0, wall_s / cpu_s))
