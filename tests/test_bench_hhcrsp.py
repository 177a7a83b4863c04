"""The HHCRSP benchmark (bench/hhcrsp.py): the instance reader, the independent checker and the literature's
objective on a hand-checkable instance, the mapping onto the problem file, and a tiny run end to end."""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from daysupport import REPO, SHARED

sys.path.insert(0, str(REPO / "bench"))

import _hhcrsp as H
import hhcrsp as bench

from planner import Role, problem_from_json

DATA = SHARED / "benchmarks" / "hhcrsp"

# Depot 0 (and its closing copy 4) at (0, 0); patient 1 at (3, 4) needs service 0; patient 2 at (6, 8) needs
# services 0 and 1 together; patient 3 at (0, 8) needs service 0, then service 1 5..10 later. Caregiver 0 does
# service 0 only, caregiver 1 both. Every service takes 2. Distances: 0-1 5, 0-2 10, 0-3 8, 1-2 5, 1-3 5, 2-3 6.
TINY = """nbNodes
5
nbVehi
2
nbServi
2
r
1 1
1 0
1 1
1 1
1 1
DS
4 3
a
1 0
1 1
x
0 3 6 0 0
y
0 4 8 8 0
d
0 5 10 8 0
5 0 5 5 5
10 5 0 6 10
8 5 6 0 8
0 5 10 8 0
p
0 0
0 0
2 2
2 2
2 2
2 2
2 2
2 2
0 0
0 0
mind
0 0 0 5 0
maxd
0 0 0 10 0
e
0 0 20 0 0
l
100 10 18 25 100
"""


@pytest.fixture
def tiny(tmp_path: Path) -> H.HhcrspInstance:
    path = tmp_path / "InstanzTiny_HCSRP_3_1.txt"
    path.write_text(TINY)
    return H.read_instance(path)


def hand_solution() -> list[list[H.Task]]:
    """Caregiver 0: patient 1 at 5, patient 2 at 20 (waits from 12 for the partner), patient 3 at 28.
    Caregiver 1: patient 2 at 20 (with caregiver 0), patient 3 at 33 (5 after caregiver 0 began there).
    Travel 24 + 24; tardiness: patient 2 both services 2 late (l = 18), patient 3 3 and 8 late (l = 25)."""
    return [[H.Task(1, 0, 5.0), H.Task(2, 0, 20.0), H.Task(3, 0, 28.0)],
            [H.Task(2, 1, 20.0), H.Task(3, 1, 33.0)]]


def test_reader_reads_the_format(tiny: H.HhcrspInstance) -> None:
    assert (tiny.n_nodes, tiny.n_vehicles, tiny.n_services, tiny.size) == (5, 2, 2, 3)
    assert tiny.double == (3, 2)  # DS is 1-based in the file
    assert [tiny.kind(i) for i in tiny.patients] == ["single", "simultaneous", "gap"]
    assert tiny.services(3) == (0, 1) and tiny.dist[2, 3] == 6 and tiny.proc[2, 1, 1] == 2
    assert (tiny.min_gap[3], tiny.max_gap[3], tiny.earliest[2], tiny.due[3]) == (5, 10, 20, 25)
    assert tiny.qualified.tolist() == [[True, False], [True, True]]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("DS\n4 3", "DS\n4", "DS lists"),
    ("e\n0 0 20 0 0", "e\n0 0 20 0", "section e has 4 values, expected 5"),
    ("mind\n0 0 0 5 0", "mind\n0 0 0 50 0", "mind 50 > maxd 10"),
    ("a\n1 0\n1 1", "a\n1 0\n1 0", "no caregiver is qualified"),
    ("x\n0 3 6 0 0", "x\n0 3 six 0 0", "section x holds a non-number"),
    ("nbServi\n2\n", "", "missing section(s) nbServi"),
])
def test_reader_names_what_is_wrong(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in TINY
    path = tmp_path / "bad.txt"
    path.write_text(TINY.replace(old, new))
    with pytest.raises(ValueError, match=re.escape(message)):
        H.read_instance(path)


def test_checker_computes_the_literature_objective_by_hand(tiny: H.HhcrspInstance) -> None:
    v = H.check(tiny, hand_solution())
    assert v.feasible, v.problems
    assert (v.travel, v.tardiness, v.max_tardiness) == (48, 2 + 2 + 3 + 8, 8)
    assert v.cost == pytest.approx((48 + 15 + 8) / 3)


def test_least_schedule_waits_for_the_partner_and_the_gap(tiny: H.HhcrspInstance) -> None:
    seqs = [[(t.node, t.service) for t in r] for r in hand_solution()]
    assert H.least_schedule(tiny, seqs) == hand_solution()
    # Caregiver 1 waits at patient 2 for caregiver 0, who came from patients 3 and 1 (8 + 2 + 5, + 2 + 5).
    assert H.least_schedule(tiny, [[(3, 0), (1, 0), (2, 0)], [(3, 1), (2, 1)]]) == [
        [H.Task(3, 0, 8.0), H.Task(1, 0, 15.0), H.Task(2, 0, 22.0)], [H.Task(3, 1, 13.0), H.Task(2, 1, 22.0)]]
    # Crosswise: each caregiver would wait for the other at its first patient: no schedule exists.
    assert H.least_schedule(tiny, [[(2, 0), (3, 0)], [(3, 1), (2, 1)]]) is None
    # Patient 2 after patient 3 on caregiver 1 pushes patient 3's second service 16 after its first: > maxd 10.
    assert H.least_schedule(tiny, [[(3, 0), (2, 0)], [(2, 1), (3, 1)]]) is None


def _broken(edit: str) -> list[list[H.Task]]:
    sol = hand_solution()
    c0, c1 = sol
    if edit == "unqualified":
        c0[0] = H.Task(1, 1, 5.0)
    elif edit == "not_together":
        c1[0] = H.Task(2, 1, 21.0)
    elif edit == "gap_too_small":
        c1[1] = H.Task(3, 1, 32.0)
    elif edit == "gap_too_large":
        c1[1] = H.Task(3, 1, 38.5)
    elif edit == "missing":
        del c1[1]
    elif edit == "twice":
        c1.insert(0, H.Task(1, 0, 5.0))
    elif edit == "before_travel":
        c0[0] = H.Task(1, 0, 4.9)
    elif edit == "before_window":
        c0[1], c1[0] = H.Task(2, 0, 19.0), H.Task(2, 1, 19.0)
    elif edit == "same_caregiver_together":
        sol = [[H.Task(1, 0, 5.0), H.Task(3, 0, 10.0)], [H.Task(2, 0, 20.0), H.Task(2, 1, 20.0), H.Task(3, 1, 28.0)]]
    elif edit == "too_many_routes":
        sol.append([])
    return sol


@pytest.mark.parametrize(("edit", "message"), [
    ("unqualified", "caregiver not qualified"),
    ("not_together", "simultaneous services start at 20.0000 and 21.0000"),
    ("gap_too_small", "gap 4.0000 outside [5, 10]"),
    ("gap_too_large", "gap 10.5000 outside [5, 10]"),
    ("missing", "patient 3: service(s) [1] not performed"),
    ("twice", "caregiver 1 at patient 1 service 0: already performed by caregiver 0"),
    ("before_travel", "starts at 4.9000 before 5.0000"),
    ("before_window", "starts at 19.0000 before 20.0000"),
    ("same_caregiver_together", "patient 2: simultaneous services by the same caregiver 1"),
    ("too_many_routes", "3 routes for 2 caregivers"),
])
def test_checker_catches_each_broken_rule(tiny: H.HhcrspInstance, edit: str, message: str) -> None:
    v = H.check(tiny, _broken(edit))
    assert not v.feasible
    assert any(message in p for p in v.problems), v.problems


def test_problem_file_maps_services_onto_visits_crews_and_precedences(tiny: H.HhcrspInstance) -> None:
    raw = H.to_problem_json(tiny)
    p = problem_from_json(json.loads(json.dumps(raw)))
    assert [w.skills for w in p.workers] == [frozenset({"s0"}), frozenset({"s0", "s1"})]
    assert {w.role for w in p.workers} == {Role.VISITING_NURSE}
    by = {v.id: v for v in p.visits}
    assert sorted(by) == ["p1", "p2", "p3a", "p3b"] and all(v.mandatory for v in p.visits)
    assert by["p1"].required_skills == {"s0"} and by["p1"].duration_s == 120 and by["p1"].due_s == 600
    joint = by["p2"]
    assert [(s.skills, s.duration_s) for s in joint.crew] == [({"s0"}, 120), ({"s1"}, 120)]
    assert joint.late_cost == 2.0 and joint.time_windows[0].start_s == 20 * 60 and joint.due_s == 18 * 60
    (prec,) = p.precedences
    assert (prec.first, prec.then, prec.min_gap_s, prec.max_gap_s) == ("p3a", "p3b", 300, 600)
    tm = p.travel_matrix
    assert tm is not None and len(tm.locations) == 4  # depot and three patients (the closing depot is node 0's place)
    hh = {h.id: h.location for h in p.households}
    assert tm.duration_s["walk"][tm.index_of(hh["h2"]), tm.index_of(hh["h3"])] == 360


def test_travel_is_rounded_up_so_plans_stay_feasible_on_the_float_data(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_text(TINY.replace("0 5 10 8 0\n5 0 5 5 5", "0 5.0001 10 8 0\n5.0001 0 5 5 5"))
    raw = H.to_problem_json(H.read_instance(path))
    assert raw["travel_matrix"]["walk"]["duration_s"][0][1] == 301


def test_relaxed_reference_unlinks_the_two_services(tiny: H.HhcrspInstance) -> None:
    loose = H.relaxed(tiny)
    assert [loose.kind(i) for i in loose.patients] == ["single", "independent", "independent"]
    assert H.check(loose, _broken("not_together")).feasible and H.check(loose, _broken("gap_too_small")).feasible
    assert not H.check(loose, _broken("missing")).feasible
    raw = H.to_problem_json(loose)
    assert "precedences" not in raw and not any("crew" in v for v in raw["visits"])
    assert [v["id"] for v in raw["visits"]] == ["p1", "p2a", "p2b", "p3a", "p3b"]
    assert all(v["late_cost"] == 1.0 for v in raw["visits"])


def test_plan_file_reads_back_into_timed_tasks(tiny: H.HhcrspInstance) -> None:
    def stop(vid: str, minute: float, seat: int | None = None) -> dict[str, object]:
        s = {"visit_id": vid, "start": f"2026-11-24T{int(minute) // 60:02d}:{int(minute) % 60:02d}:"
                                      f"{round(60 * (minute % 1)):02d}+09:00"}
        return s if seat is None else {**s, "crew": {"seat": seat, "partners": []}}

    plan = {"routes": [{"worker_id": "c0", "stops": [stop("p1", 5), stop("p2", 20, 0), stop("p3a", 28)]},
                       {"worker_id": "c1", "stops": [stop("p2", 20, 1), stop("p3b", 33)]}],
            "unassigned": []}
    routes, left_out = H.from_plan_json(tiny, plan)
    assert routes == hand_solution() and left_out == []
    row = bench.assess(tiny, plan)
    assert row["feasible"] and row["cost"] == pytest.approx(71 / 3, abs=1e-4)
    plan["unassigned"] = [{"visit_id": "p3b"}]
    del plan["routes"][1]["stops"][1]
    assert not bench.assess(tiny, plan)["feasible"]


def brute_force_optimum(inst: H.HhcrspInstance) -> float:
    """The least literature cost over every assignment and order of the tiny instance's five tasks."""
    tasks = [(i, s) for i in inst.patients for s in inst.services(i)]
    best = math.inf
    for owners in itertools.product(range(inst.n_vehicles), repeat=len(tasks)):
        if any(not inst.qualified[v, s] for v, (_, s) in zip(owners, tasks, strict=True)):
            continue
        mine = [[t for t, v in zip(tasks, owners, strict=True) if v == k] for k in range(inst.n_vehicles)]
        for orders in itertools.product(*(itertools.permutations(m) for m in mine)):
            sched = H.least_schedule(inst, [list(o) for o in orders])
            if sched is not None:
                verdict = H.check(inst, sched)
                if verdict.feasible:
                    best = min(best, verdict.cost)
    return best


def test_tiny_instance_end_to_end_on_a_work_budget(tiny: H.HhcrspInstance, tmp_path: Path) -> None:
    row = bench.run_one(tiny, 60, solution_limit=30, workdir=tmp_path)
    assert row["feasible"], row["problems"]
    assert row["left_out"] == 0
    optimum = brute_force_optimum(tiny)
    # Caregiver 1 gives both services of patient 3 (8 and 13), then joins caregiver 0 at patient 2 at 21:
    # travel 44, tardiness 3 + 3 (patient 2 at 21, due 18, both services), none elsewhere; max tardiness 3.
    assert optimum == pytest.approx((44 + 6 + 3) / 3)
    assert optimum - 1e-6 <= row["cost"] <= optimum * 1.05


def test_bench_script_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "bench/hhcrsp.py", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=False)

    for args, message in [(["--data", str(tmp_path / "nowhere")], "benchmark data absent"),
                          (["--time-limit", "0"], "must lie in (0, 3600]"),
                          (["--resume"], "--resume needs --raw FILE")]:
        r = run(*args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    (tmp_path / "best_values.csv").write_text("instance_file,n_nodes,best_known_cost\n")
    (tmp_path / "InstanzTiny_HCSRP_3_1.txt").write_text(TINY)
    r = run("--data", str(tmp_path), "--instances", "99")
    assert r.returncode == 2 and "'99' matches no instance file" in r.stderr


def test_bench_script_runs_writes_its_table_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "InstanzTiny_HCSRP_3_1.txt").write_text(TINY)
    (data / "best_values.csv").write_text("instance_file,n_nodes,best_known_cost\nInstanzTiny_HCSRP_3_1.txt,3,17.6667\n")
    out, raw = tmp_path / "t.md", tmp_path / "t.jsonl"
    args = [sys.executable, "bench/hhcrsp.py", "--data", str(data), "--time-limit", "30", "--solution-limit", "30",
            "--out", str(out), "--raw", str(raw), "--resume"]
    for _ in range(2):  # the second run finds its row in --raw and plans nothing
        r = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stderr[-2000:]
    (row,) = [json.loads(x) for x in raw.read_text().splitlines()]
    assert row["feasible"] and row["size"] == 3 and len(row["loadavg_before"]) == 3
    assert abs(row["gap"]) < 0.01
    assert "| 3 | 1 | 1/1 |" in out.read_text()


def test_bench_script_rechecks_a_published_route_file(tmp_path: Path) -> None:
    (tmp_path / "best_values.csv").write_text("instance_file,n_nodes,best_known_cost\n")
    (tmp_path / "InstanzTiny_HCSRP_3_1.txt").write_text(TINY)
    # <vehicle> <route length>, then <from> <to> <vehicle> <service> arcs; the depot is 0 at both ends.
    routes = "# Solution\n0 3\n0 1 0 0\n1 2 0 0\n2 0 0 0\n1 4\n0 3 1 0\n3 3 1 1\n3 2 1 1\n2 0 1 0\n"
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(routes)
    bad.write_text(routes.replace("3 3 1 1\n3 2 1 1", "3 2 1 1"))

    def run(solution: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "bench/hhcrsp.py", "--data", str(tmp_path), "--instances", "3_1",
                               "--check-published", str(solution)], cwd=REPO, capture_output=True, text=True,
                              timeout=120, check=False)

    ok = run(good)
    assert ok.returncode == 0 and "feasible cost 17.667 = (travel 44.000 + tardiness 6.00000" in ok.stdout
    broken = run(bad)
    assert broken.returncode == 1 and "patient 3: service(s) [1] not performed" in broken.stdout


# ---- on the real files (../shared) --------------------------------------------------------------

@pytest.fixture(scope="module")
def data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"HHCRSP instances absent ({DATA}): ../shared is not checked out here")
    return DATA


def test_reader_on_a_real_file(data: Path) -> None:
    inst = H.read_instance(data / "InstanzCPLEX_HCSRP_10_2.txt")
    assert (inst.n_nodes, inst.n_vehicles, inst.n_services, inst.size) == (12, 3, 6, 10)
    assert inst.double == (10, 9, 8)
    assert [inst.kind(i) for i in (8, 9, 10)] == ["simultaneous", "gap", "gap"]
    assert inst.services(9) == (0, 5) and (inst.min_gap[9], inst.max_gap[9]) == (36, 72)
    assert inst.dist[0, 1] == pytest.approx(37.215588) and inst.proc[5, 2, 3] == 11.0
    assert (inst.earliest[1], inst.due[1]) == (28, 148)
    assert inst.qualified[2].tolist() == [False, False, False, True, True, True]


def test_every_real_file_reads_and_maps(data: Path) -> None:
    paths = H.instance_paths(data)
    best = H.best_values(data)
    assert len(paths) == 28 and set(best) == {p.stem for p in paths}
    sizes = [H.read_instance(p).size for p in paths[::4]]
    assert sizes == [10, 25, 50, 75, 100, 200, 300]
    p = problem_from_json(H.to_problem_json(H.read_instance(paths[-1])))
    assert len(p.workers) == 40 and all(v.mandatory for v in p.visits)
