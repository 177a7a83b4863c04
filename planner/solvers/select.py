"""The engine a solve uses, by name (``SolveParams.solver``, the command line's ``--solver``, an API job's)."""

from __future__ import annotations

from ..params import SOLVERS
from .base import RoutingSolver

__all__ = ["solver_for"]


def solver_for(name: str = "auto") -> RoutingSolver:
    """The engine called ``name`` (one of :data:`planner.params.SOLVERS`).

    ``"auto"`` is :class:`~planner.solvers.race.RaceSolver`: the day's hybrid against OR-Tools, side by side where
    a second process may run, else one after the other in the deterministic mode (the same plan) and the hybrid
    alone on the clock.  ``"race"`` runs both legs wherever it is (one after the other on half the budget each
    when it must).
    """
    if name in ("auto", "race"):
        from .race import RaceSolver

        return RaceSolver(halve=name == "race")
    if name == "ortools":
        from .ortools_routing import OrToolsSolver

        return OrToolsSolver()
    if name == "pyvrp":
        from .pyvrp_hybrid import PyVrpHybridSolver

        return PyVrpHybridSolver()
    if name == "vroom":
        from .vroom_hybrid import VroomHybridSolver

        return VroomHybridSolver()
    raise ValueError(f"solver: {name!r} is not one of {', '.join(SOLVERS)}")
