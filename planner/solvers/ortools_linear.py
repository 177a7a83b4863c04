"""OR-Tools' linear solvers (GLOP, SCIP) for the coverage bound: the one other adapter of the OR-Tools package."""

from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["maximise_linear"]

#: GLOP: OR-Tools' own simplex (it solved the 2,000-visit LP in a third of HiGHS's time on the shared machine).
LP_SOLVER = "GLOP"
#: Coefficients set between two looks at the clock while the model is built.
_CHECK_EVERY = 4096


def maximise_linear(n_var: int, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    weight: np.ndarray, *, integral: bool, time_limit_s: float, node_limit: int | None) -> float | None:
    """Maximise ``weight @ x`` over ``0 <= x <= 1`` (integer when ``integral``), ``lo <= A x <= hi``: GLOP's LP
    optimum, or SCIP's proven bound (its dual bound when stopped); ``None`` when nothing is proven in time.
    ``time_limit_s`` covers building the model too (one coefficient at a time in Python: about as long as GLOP's
    solve on a 400-visit, 100-worker day), which stops with ``None`` when it runs out.

    OR-Tools' linear solvers load in a tenth of a second next to its routing library, which every solve has
    loaded already (SciPy's optimiser took over a second to import on the shared machine)."""
    stop_at = time.monotonic() + time_limit_s
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("SCIP" if integral else LP_SOLVER)
    if solver is None:  # pragma: no cover - both ship with the ortools wheel
        return None
    inf = solver.infinity()
    x = [solver.IntVar(0, 1, "") if integral else solver.NumVar(0, 1, "") for _ in range(n_var)]
    cts = [solver.Constraint(-inf if not math.isfinite(a) else float(a), inf if not math.isfinite(b) else float(b))
           for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
    for k, (r, c, v) in enumerate(zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True)):
        if k % _CHECK_EVERY == 0 and time.monotonic() > stop_at:
            return None
        cts[r].SetCoefficient(x[c], v)
    objective = solver.Objective()
    for c in np.flatnonzero(weight).tolist():
        objective.SetCoefficient(x[c], float(weight[c]))
    objective.SetMaximization()
    left = stop_at - time.monotonic()
    if left <= 0:
        return None
    solver.SetTimeLimit(max(10, int(1000 * left)))
    if integral and node_limit is not None:
        solver.SetSolverSpecificParametersAsString(f"limits/nodes = {node_limit}\n")
    status = solver.Solve()
    if status == pywraplp.Solver.OPTIMAL and not integral:
        return float(objective.Value())
    if integral and status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        best = float(objective.BestBound())
        return best if math.isfinite(best) else None
    return None
