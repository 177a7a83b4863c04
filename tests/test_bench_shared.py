"""Salpimi's engine on three real Solomon instances: feasible under an independent check, near the BKS."""

from __future__ import annotations

import sys

import pytest
from daysupport import REPO, SHARED

pytest.importorskip("pyvrp")
sys.path.insert(0, str(REPO / "bench"))

import _instances as bench

SOLOMON = SHARED / "benchmarks" / "solomon" / "vrplib"


@pytest.fixture(scope="module")
def best() -> dict[str, tuple[int, float]]:
    if not SOLOMON.is_dir():
        pytest.skip(f"Solomon instances absent ({SOLOMON}): ../shared is not checked out here")
    return bench.bks("solomon")


def test_the_bks_pass_the_independent_checker(best) -> None:
    inst = bench.read_vrplib(SOLOMON / "R101.vrp")
    sol = (SOLOMON / "R101.sol").read_text().splitlines()
    routes = [[int(x) for x in line.split(":")[1].split()] for line in sol if line.startswith("Route")]
    got = bench.check(inst, routes)
    assert got.feasible and got.distance == pytest.approx(best["R101"][1])
    assert not bench.check(inst, routes[1:]).feasible  # missing customers are caught


@pytest.mark.parametrize("name", ["C101", "R101", "RC101"])
def test_engine_is_feasible_and_near_the_best_known(best, name: str) -> None:
    inst = bench.read_vrplib(SOLOMON / f"{name}.vrp")
    got = bench.check(inst, bench.run_salpimi(inst, 3.0, solver="hybrid"))
    assert got.feasible, got.problem
    assert got.distance <= best[name][1] * 1.03
