"""Search parameters of a solve: time limit, seed, strategy, determinism."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SolveParams"]

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
        seed and limit give the same plan on any machine; ``time_limit_s`` stays a safety cap.
    solution_limit
        Work budget in the deterministic mode (local-search solutions accepted).
    first_solution
        OR-Tools first-solution strategy (parallel cheapest insertion handles tight windows).
    metaheuristic
        OR-Tools local-search metaheuristic.
    penalty_unit
        Objective units (seconds of travel) per unit of risk skip penalty: coverage of risk
        dominates travel time.
    continuity_cost_s
        Soft cost (in seconds of travel) of giving a household to another worker than its
        preferred one.
    """

    time_limit_s: float = 10.0
    seed: int = 0
    deterministic: bool = False
    solution_limit: int = 2000
    first_solution: str = "parallel_cheapest_insertion"
    metaheuristic: str = "guided_local_search"
    penalty_unit: int = 100_000
    continuity_cost_s: int = 900
    log_search: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.time_limit_s, int | float) and 0 < self.time_limit_s <= 24 * 3600):
            raise ValueError(f"time_limit_s: must lie in (0, 86400], got {self.time_limit_s!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: must be a non-negative integer, got {self.seed!r}")
        if self.first_solution not in _STRATEGIES:
            raise ValueError(f"first_solution: {self.first_solution!r} is not one of {', '.join(_STRATEGIES)}")
        if self.metaheuristic not in _METAHEURISTICS:
            raise ValueError(f"metaheuristic: {self.metaheuristic!r} is not one of {', '.join(_METAHEURISTICS)}")
        if self.solution_limit < 1:
            raise ValueError(f"solution_limit: must be positive, got {self.solution_limit!r}")
