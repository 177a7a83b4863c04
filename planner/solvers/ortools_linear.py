"""OR-Tools' linear solvers (GLOP, SCIP) for the coverage bound: the one other adapter of the OR-Tools package."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["maximise_linear"]

#: GLOP: OR-Tools' own simplex (it solved the 2,000-visit LP in a third of HiGHS's time on the shared machine).
LP_SOLVER = "GLOP"


def maximise_linear(n_var: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    weight: np.ndarray, *, integral: bool, time_limit_s: float, node_limit: int | None) -> float | None:
    """Maximise ``weight @ x`` over ``0 <= x <= 1`` (integer when ``integral``), ``lo <= A x <= hi``: GLOP's LP
    optimum, or SCIP's proven bound (its dual bound when stopped); ``None`` when nothing is proven in time.

    OR-Tools' linear solvers load in a tenth of a second next to its routing library, which every solve has
    loaded already (SciPy's optimiser took over a second to import on the shared machine)."""
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("SCIP" if integral else LP_SOLVER)
    if solver is None:  # pragma: no cover - both ship with the ortools wheel
        return None
    inf = solver.infinity()
    x = [solver.IntVar(0, 1, "") if integral else solver.NumVar(0, 1, "") for _ in range(n_var)]
    cts = [solver.Constraint(-inf if not math.isfinite(a) else float(a), inf if not math.isfinite(b) else float(b))
           for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
    for r, c, v in zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True):
        cts[r].SetCoefficient(x[c], v)
    objective = solver.Objective()
    for c in np.flatnonzero(weight).tolist():
        objective.SetCoefficient(x[c], float(weight[c]))
    objective.SetMaximization()
    solver.SetTimeLimit(max(10, int(1000 * time_limit_s)))
    if integral and node_limit is not None:
        solver.SetSolverSpecificParametersAsString(f"limits/nodes = {node_limit}\n")
    status = solver.Solve()
    if status == pywraplp.Solver.OPTIMAL and not integral:
        return float(objective.Value())
    if integral and status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        best = float(objective.BestBound())
        return best if math.isfinite(best) else None
    return None
