"""Solver plug point: a one-method protocol and the raw routes it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..instance import Instance
from ..params import SolveParams
from .budget import Deadline

__all__ = ["Progress", "RawSolution", "RoutingSolver"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A progress report during a solve."""

    elapsed_s: float
    objective: int
    visits_covered: int
    visits_total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RawSolution:
    """Visit indices per worker with service start times; ``None`` times mean "schedule me".

    ``settled`` says the routes already went through the pipeline's greedy repair (nothing
    dropped still fits), so :func:`planner.solve` need not repeat it.
    """

    routes: tuple[tuple[int, ...], ...]
    starts: tuple[tuple[int, ...], ...] | None = None
    departs: tuple[int, ...] | None = None
    returns: tuple[int, ...] | None = None
    breaks: tuple[int | None, ...] | None = None
    objective: int = 0
    stopped_early: bool = False
    status: str = "ok"
    solver: str = ""
    settled: bool = False


class RoutingSolver(Protocol):
    """Anything that turns an :class:`Instance` into routes."""

    def solve(
        self,
        inst: Instance,
        params: SolveParams,
        *,
        initial: Sequence[Sequence[int]] | None = None,
        previous_worker: Sequence[int] | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: Deadline | None = None,
    ) -> RawSolution:
        """Solve ``inst``; ``initial`` is a hint of routes, ``previous_worker[v]`` a worker to keep.

        ``deadline`` is the time (and, in the deterministic mode, work) the search may use; without one
        the engine takes :meth:`Deadline.of(params) <planner.solvers.budget.Deadline.of>` from its start.
        """
        ...
