"""Search parameters of a solve: engine, time limit, seed, strategy, determinism."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SOLVERS", "SolveParams"]

#: Engines a solve may use, by name (:func:`planner.solvers.select.solver_for` builds them).
SOLVERS = ("auto", "race", "ortools", "pyvrp", "vroom")

_STRATEGIES = ("parallel_cheapest_insertion", "path_cheapest_arc", "savings", "christofides")
_METAHEURISTICS = ("guided_local_search", "simulated_annealing", "tabu_search", "greedy_descent")


@dataclass(frozen=True, slots=True, kw_only=True)
class SolveParams:
    """How hard and how to search.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget of the whole solve (seconds): building the model, the search, the
        repair of dropped visits and the explanations all fit in it.
    seed
        Seed for every randomised component.
    deterministic
        Stop on a work budget (``solution_limit``) instead of the clock, so the same input,
        seed and limit give the same plan on any machine, on one core or many; ``time_limit_s``
        stays a safety cap.
    solution_limit
        Work budget in the deterministic mode (local-search solutions accepted).
    first_solution
        OR-Tools first-solution strategy (parallel cheapest insertion handles tight windows).
    metaheuristic
        OR-Tools local-search metaheuristic.
    penalty_unit
        Objective units (seconds of travel) per unit of risk skip penalty: coverage of risk
        dominates travel time.
    coverage_resolution
        Risk (in the risk model's units; 1.0 is a self-care household at its cadence) below which two candidate
        plans of one solve count as covering the same: the race's legs, and a plan found by another objective
        (VROOM's priorities) kept without trading its travel for risk.  Where their skip penalties differ by at
        most this much the plan with less travel and continuity cost wins; elsewhere the lower objective.  0 turns
        it off (the objective alone decides).
    continuity_cost_s
        Soft cost (in seconds of travel) of giving a household to another worker than its
        preferred one.
    log_search
        Let OR-Tools log its search (to stderr).
    solver
        The engine: ``"auto"`` (the default: the day's hybrid — PyVRP's when PyVRP can express the whole day,
        VROOM's otherwise — raced against plain OR-Tools, in a second process where one may run; without
        one, both one after the other in the deterministic mode, so the plan is the same on one core or two,
        and the hybrid alone on the clock), ``"race"`` (both legs always, on half the budget each when they
        must run one after the other), ``"ortools"``, ``"pyvrp"`` (PyVRP, then OR-Tools on the full model)
        or ``"vroom"`` (VROOM, then OR-Tools).  Every engine's plan honours every rule.
    """

    time_limit_s: float = 10.0
    seed: int = 0
    deterministic: bool = False
    solution_limit: int = 2000
    first_solution: str = "parallel_cheapest_insertion"
    metaheuristic: str = "guided_local_search"
    penalty_unit: int = 100_000
    continuity_cost_s: int = 900
    coverage_resolution: float = 1.0
    log_search: bool = False
    solver: str = "auto"

    def __post_init__(self) -> None:
        if not (isinstance(self.time_limit_s, int | float) and 0 < self.time_limit_s <= 24 * 3600):
            raise ValueError(f"time_limit_s: must lie in (0, 86400], got {self.time_limit_s!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {self.seed!r}")
        if self.first_solution not in _STRATEGIES:
            raise ValueError(f"first_solution: {self.first_solution!r} is not one of {', '.join(_STRATEGIES)}")
        if self.metaheuristic not in _METAHEURISTICS:
            raise ValueError(f"metaheuristic: {self.metaheuristic!r} is not one of {', '.join(_METAHEURISTICS)}")
        if not (isinstance(self.coverage_resolution, int | float) and 0 <= self.coverage_resolution <= 1e6):
            raise ValueError(f"coverage_resolution: must lie in [0, 1e6], got {self.coverage_resolution!r}")
        if self.solution_limit < 1:
            raise ValueError(f"solution_limit: must be positive, got {self.solution_limit!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver: {self.solver!r} is not one of {', '.join(SOLVERS)}")
