"""Race a hybrid (VROOM or PyVRP, in a child process) against plain OR-Tools, a second PyVRP search or the VROOM
hybrid (here) and keep the better plan."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..instance import Instance
from ..params import SolveParams
from .base import Progress, RawSolution
from .budget import Deadline
from .objective import no_worse, objective_parts, relaxation_is_exact, resolution
from .repair import settle

__all__ = ["RaceSolver", "can_fork", "challenger_for", "idle_cores", "load_average", "others_load", "others_running",
           "own_load", "second_seed"]

_GRACE_S = 2.0
#: Readings of the kernel's count of runnable tasks :func:`others_running` averages, and the pause between them:
#: about 25 ms in all, once per solve that could race.
_RUN_SAMPLES = 20
_RUN_PAUSE_S = 0.001
#: Idle cores (cores less the other jobs' runnable tasks) a race on the clock needs: one per leg, with slack.  With
#: fewer, the two legs would share one core and each search only half as long as a single-process peer's.
_RACE_IDLE_CORES = 1.5
#: Candidate visits beyond which, on the clock, the hybrid gets the whole budget: plain OR-Tools' search adds
#: nothing to its first solution there, and building its model twice (a leg of its own and the hybrid's
#: polish) costs seconds of the budget.
_RACE_MAX_VISITS = 600
#: Seconds, as a share of the search budget, the comparison's greedy repairs may take after the search: none.  The
#: search's budget already ends where the solve pipeline's reserve for its own repair and explanations begins; a
#: tenth of the budget more made the whole call end 0.5-0.7 s late at 10 s on busy days (and up to 3 s at 30 s),
#: the greedy plan built from nothing after VROOM's search being the longest of those repairs.
_SETTLE_SHARE = 0.0
#: Seconds past the search's deadline this process waits for a VROOM peer leg's plan (:class:`~planner.solvers.
#: vroom_hybrid.VroomPeerSolver`) before it stops the child: VROOM's one run cannot be interrupted and may overrun
#: its timeout, so a plan not sent by then is given up (the whole call must end within the limit + 2 % + 0.5 s).
_PEER_WAIT_S = 0.25
#: Candidate visits from which a race on a VROOM day is the VROOM pair (:meth:`RaceSolver.pair`); on smaller days
#: the hybrid still races plain OR-Tools, which won the race on the scaled 50-visit day (103,447.7 risk covered
#: against the hybrid's 103,436.6) and is far behind on the busy days (248-412 candidate visits).
_PAIR_MIN_VISITS = 100


def second_seed(seed: int) -> int:
    """The seed of the second PyVRP search beside the one with ``seed`` (any other seed; kept in PyVRP's range)."""
    return (seed + 1) % 2**32


class _Mailbox:
    """A pipe's two ends in one process, for the hand-over when the two searches run one after the other."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def send(self, item: Any) -> None:
        self.items.append(item)

    def poll(self, timeout: float = 0.0) -> bool:
        return bool(self.items)

    def recv(self) -> Any:
        return self.items.pop(0)


def _pyvrp(conn: Any, *, give: bool) -> Any:
    """The PyVRP hybrid giving (or taking) its incumbent through ``conn`` at the budget's midpoint."""
    from .pyvrp_hybrid import Handover, PyVrpHybridSolver

    return PyVrpHybridSolver(handover=Handover(conn=conn, give=give))


def _settled(raw: RawSolution, routes: tuple[tuple[int, ...], ...] | None) -> RawSolution:
    if routes is None:
        return raw
    return RawSolution(routes=routes, objective=raw.objective, stopped_early=raw.stopped_early, status=raw.status,
                       solver=raw.solver, settled=True)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def can_fork(processes: int | None = None) -> bool:
    """Whether a second solver process may run beside this one: two cores or more (``processes`` overrides the
    count), fork available (the child must not re-import the caller's main module) and this process not
    daemonic (a daemonic process may not start children: the API's worker processes)."""
    cores = processes if processes is not None else _cores()
    return cores >= 2 and not mp.current_process().daemon and "fork" in mp.get_all_start_methods()


def load_average() -> float:
    """The machine's 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        return 0.0


def own_load() -> float:
    """This process's own share of the 1-minute load average: its CPU time and its reaped children's over its
    age, weighted as the kernel's exponential average weighs a process busy that long (0 where unknown).  A
    benchmark or a server that has just searched on both cores has raised the load itself; that load is not
    another job's, and those cores are idle once its search ends."""
    try:
        with open("/proc/self/stat") as fh:
            started_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        age = uptime - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0.0
    if age <= 0:
        return 0.0
    t = os.times()
    rate = (t.user + t.system + t.children_user + t.children_system) / age
    return min(rate, float(_cores())) * (1.0 - math.exp(-age / 60.0))


def others_load() -> float:
    """The 1-minute load average less this process's own share of it (:func:`own_load`): the other jobs'."""
    return max(0.0, load_average() - own_load())


def _own_running() -> int:
    """This process's threads runnable now (the one reading counts itself)."""
    running = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as fh:
                    running += fh.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:  # pragma: no cover - not Linux
        return 1
    return max(running, 1)


def others_running(samples: int = _RUN_SAMPLES, pause_s: float = _RUN_PAUSE_S) -> float:
    """The other jobs' runnable tasks now: the kernel's count of runnable tasks (``procs_running`` in /proc/stat)
    less this process's own running threads, averaged over ``samples`` readings ``pause_s`` apart (~25 ms).

    The 1-minute load average (:func:`others_load`) lags by a minute: it still counts a job that has just ended, so a
    benchmark that ran one search after another saw a load of ~1 from its own previous runs and never raced on its
    two cores, and it misses a neighbour that has just started.  A CPU-bound neighbour is runnable at every reading;
    a short burst moves the average by one reading's share.  Falls back to :func:`others_load` where /proc/stat
    cannot be read."""
    total = 0.0
    for i in range(samples):
        if i:
            time.sleep(pause_s)
        try:
            with open("/proc/stat") as fh:
                line = next(x for x in fh if x.startswith("procs_running "))
            runnable = int(line.split()[1])
        except (OSError, StopIteration, ValueError, IndexError):  # pragma: no cover - not Linux
            return others_load()
        total += max(0, runnable - _own_running())
    return total / samples


def idle_cores(processes: int | None = None, load: Callable[[], float] | None = None) -> float:
    """Cores this process may use (``processes`` overrides the count) less the other jobs' load (``load`` reads
    it; by default their runnable tasks now, :func:`others_running`)."""
    cores = processes if processes is not None else _cores()
    return cores - (load or others_running)()


def _until(budget: Deadline) -> Callable[[], bool] | None:
    """On the clock, a stop for the comparison's repairs shortly after the search's end; none when deterministic."""
    if budget.deterministic:
        return None
    end = budget.ends_at + _SETTLE_SHARE * budget.cap_s
    return lambda: time.monotonic() >= end


def challenger_for(inst: Instance, previous_worker: Sequence[int] | None = None) -> str:
    """The hybrid for this day: ``"pyvrp"`` when PyVRP's relaxation is exact (no breaks, no continuity), where its
    search is the strongest, ``"vroom"`` otherwise (VROOM expresses breaks)."""
    return "pyvrp" if relaxation_is_exact(inst, previous_worker) else "vroom"


def _engine(name: str) -> Any:
    if name == "vroom":
        from .vroom_hybrid import VroomHybridSolver

        return VroomHybridSolver()
    if name == "vroom-peer":
        from .vroom_hybrid import VroomPeerSolver

        return VroomPeerSolver()
    if name == "pyvrp":
        from .pyvrp_hybrid import PyVrpHybridSolver

        return PyVrpHybridSolver()
    from .ortools_routing import OrToolsSolver

    return OrToolsSolver()


def _child(inst: Instance, params: SolveParams, deadline: Deadline, stop: Any, conn: Any, engine: Any,
           previous_worker: Sequence[int] | None) -> None:
    try:
        raw = engine.solve(inst, params, previous_worker=previous_worker, should_stop=stop.is_set, deadline=deadline)
        conn.send(raw)
    except BaseException as exc:
        conn.send(repr(exc))
    finally:
        conn.close()


def _better(inst: Instance, params: SolveParams, previous_worker: Sequence[int] | None, own: RawSolution,
            other: RawSolution | None, budget: Deadline) -> RawSolution:
    """The better of this process's ``own`` and the other leg's ``other``, compared as the plans will be after the
    pipeline's greedy repair (OR-Tools without a solution leaves empty routes, which the repair fills) by
    :func:`~planner.solvers.objective.no_worse` (within ``params.coverage_resolution`` of the same risk covered, less
    travel wins); the winner is handed back repaired.  Ties go to ``other``.  On the clock the
    repairs stop shortly after the budget's end (what is left is repaired by the pipeline, also on the clock)."""
    if other is None or not other.routes:
        return own
    stop = _until(budget)
    theirs, their_routes = settle(inst, other.routes, params, previous_worker, stop=stop)
    mine, mine_routes = settle(inst, own.routes, params, previous_worker, stop=stop)
    a = objective_parts(inst, their_routes, params, previous_worker) if their_routes is not None else (theirs, 0)
    b = objective_parts(inst, mine_routes, params, previous_worker) if mine_routes is not None else (mine, 0)
    return _settled(other, their_routes) if no_worse(a, b, resolution(params)) else _settled(own, mine_routes)


def _alone(challenger: str, inst: Instance, params: SolveParams, budget: Deadline,
           previous_worker: Sequence[int] | None, progress: Callable[[Progress], None] | None,
           should_stop: Callable[[], bool] | None) -> RawSolution:
    """The challenger alone, in this process: the VROOM hybrid (which ends with OR-Tools on the full model from
    VROOM's routes), never worse than the greedy plan the solve pipeline builds when a search finds nothing; for
    PyVRP, its hybrid when its relaxation is exact, OR-Tools otherwise."""
    if challenger != "vroom":
        one = _engine("pyvrp" if relaxation_is_exact(inst, previous_worker) else "ortools")
        raw: RawSolution = one.solve(inst, params, previous_worker=previous_worker, progress=progress,
                                     should_stop=should_stop, deadline=budget)
        return raw
    raw = _engine("vroom").solve(inst, params, previous_worker=previous_worker, progress=progress,
                                 should_stop=should_stop, deadline=budget)
    empty: tuple[tuple[int, ...], ...] = tuple(() for _ in range(inst.n_workers))
    stop = _until(budget)
    found, found_routes = settle(inst, raw.routes, params, previous_worker, stop=stop)
    if stop is not None and stop():
        return _settled(raw, found_routes)
    greedy, greedy_routes = settle(inst, empty, params, previous_worker, stop=stop)
    if greedy < found:
        return _settled(RawSolution(routes=empty, stopped_early=raw.stopped_early, solver="greedy"), greedy_routes)
    return _settled(raw, found_routes)


class RaceSolver:
    """Two strategies, the better full-model objective wins (the ``"auto"`` and ``"race"`` solvers).

    The challenger (``"auto"``, the default: :func:`challenger_for` the day; or ``"vroom"`` / ``"pyvrp"``) runs in
    a forked child process, plain OR-Tools in this one (so progress reports and cancellation behave as before);
    both share one :class:`~planner.solvers.budget.Deadline` and the seed.  Where PyVRP's relaxation is exact (no
    breaks, no continuity) this process's leg is a second PyVRP search with another seed (:func:`second_seed`)
    instead: the child's search is the one a single search with the seed makes, so the better of the two is never
    worse than it.  On the clock where the challenger is VROOM (:meth:`pair`), this process's leg is the VROOM hybrid
    and the child's :class:`~planner.solvers.vroom_hybrid.VroomPeerSolver`: what VROOM alone does (one run at
    exploration 5, one thread), then the hybrid's search from its routes; plain OR-Tools is far behind on those days.
    The child starts in :meth:`begin`, before what the caller does ahead of the search (the
    coverage bound).  Where a second process cannot run
    (:func:`can_fork`: one core, or the API's daemonic worker processes), in the deterministic mode the two legs
    run one after the other, each on the whole work budget, so the plan is the one two processes give.  On the
    clock, a split would halve each leg's time, and so would a machine without an idle core for each leg
    (:func:`idle_cores`, unless ``processes`` counts them) or a day of more than 600 candidate visits: the
    challenger runs alone (the VROOM hybrid, never worse than the
    greedy plan; PyVRP's only when its relaxation is exact, OR-Tools otherwise), unless ``halve`` asks for both
    legs, one after the other on half the budget each.  Mid-day re-planning (a previous plan as hint) always
    goes to OR-Tools, which starts from that plan.
    """

    name = "race"

    def __init__(self, *, processes: int | None = None, challenger: str = "auto", halve: bool = False,
                 load: Callable[[], float] | None = None, handover: bool = True, peer: bool = True,
                 peer_handover: bool = False) -> None:
        if challenger not in ("auto", "vroom", "pyvrp"):
            raise ValueError(f"challenger: must be 'auto', 'vroom' or 'pyvrp', got {challenger!r}")
        self.processes = processes
        self.challenger = challenger
        self.halve = halve
        self.load = load
        self.handover = handover
        self.peer = peer
        self.peer_handover = peer_handover

    def pair(self, inst: Instance, budget: Deadline, previous_worker: Sequence[int] | None = None) -> bool:
        """Whether a race on this day is two VROOM searches: on the clock, the challenger VROOM, ``peer`` set and
        at least 100 candidate visits (``_PAIR_MIN_VISITS``), the child runs what VROOM alone does and improves its
        plan (:class:`~planner.solvers.vroom_hybrid.VroomPeerSolver`) while this process runs the VROOM hybrid
        (plain OR-Tools is far behind on these days)."""
        challenger = self.challenger if self.challenger != "auto" else challenger_for(inst, previous_worker)
        return (self.peer and challenger == "vroom" and not budget.deterministic
                and inst.n_visits >= _PAIR_MIN_VISITS)

    def twin(self, inst: Instance, previous_worker: Sequence[int] | None = None) -> bool:
        """Whether this process's leg is a second PyVRP search (the challenger PyVRP, its relaxation exact)."""
        challenger = self.challenger if self.challenger != "auto" else challenger_for(inst, previous_worker)
        return challenger == "pyvrp" and relaxation_is_exact(inst, previous_worker)

    def mode(self, inst: Instance, budget: Deadline, previous_worker: Sequence[int] | None = None) -> str:
        """How this day is solved: ``"race"`` (two processes side by side), ``"sequential"`` (both legs one after
        the other: the deterministic mode without a second process, or ``halve``) or ``"alone"`` (the challenger
        on the whole budget).  On the clock a race needs an idle core for each leg (:func:`idle_cores` at least
        1.5: the cores less the load, read by ``load`` if given; without ``load``, ``processes`` counts idle cores)
        and, against plain OR-Tools, a day of at most 600 candidate visits (two PyVRP searches have no such limit:
        OR-Tools' model is what costs seconds there)."""
        busy = not budget.deterministic and (
            (inst.n_visits > _RACE_MAX_VISITS and not self.twin(inst, previous_worker))
            or ((self.processes is None or self.load is not None)
                and idle_cores(self.processes, self.load) < _RACE_IDLE_CORES))
        if busy or not can_fork(self.processes):
            return "sequential" if budget.deterministic or self.halve else "alone"
        return "race"

    def uses_grace(self, inst: Instance, previous_worker: Sequence[int] | None) -> bool:
        """Whether every search of this day goes on into a :class:`Deadline`'s grace once its best plan serves every
        visit: PyVRP's searches alone (its relaxation exact), in either mode."""
        return self.twin(inst, previous_worker)

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
        return self.begin(inst, params, initial=initial, previous_worker=previous_worker, progress=progress,
                          should_stop=should_stop, deadline=deadline)()

    def begin(
        self,
        inst: Instance,
        params: SolveParams,
        *,
        initial: Sequence[Sequence[int]] | None = None,
        previous_worker: Sequence[int] | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: Deadline | None = None,
    ) -> Callable[[], RawSolution]:
        """:meth:`solve` in two steps: in a race the challenger's process starts here, and the returned call
        runs this process's leg and keeps the better plan; what the caller does in between (the coverage
        bound) overlaps the challenger's search instead of coming out of it.  Elsewhere nothing starts before
        the call."""
        budget = deadline or Deadline.of(params)
        ortools = _engine("ortools")
        if initial is not None or inst.n_visits == 0 or inst.n_workers == 0:
            return lambda: ortools.solve(inst, params, initial=initial, previous_worker=previous_worker,
                                         progress=progress, should_stop=should_stop, deadline=budget)
        challenger = self.challenger if self.challenger != "auto" else challenger_for(inst, previous_worker)
        mode = self.mode(inst, budget, previous_worker)
        if mode == "alone":
            return lambda: _alone(challenger, inst, params, budget, previous_worker, progress, should_stop)
        # This process's leg: a second PyVRP search with another seed where PyVRP's relaxation is exact (plain
        # OR-Tools is far weaker there), plain OR-Tools elsewhere (it keeps every rule the relaxation drops).
        twin = self.twin(inst, previous_worker)
        own_engine = _engine("pyvrp") if twin else ortools
        # On the clock, against VROOM with an idle core: the hybrid here, what VROOM alone does (then improved) there.
        pair = mode == "race" and self.pair(inst, budget, previous_worker)
        if pair:
            own_engine = _engine("vroom")
        own_params = dataclasses.replace(params, seed=second_seed(params.seed)) if twin else params
        # Two PyVRP searches hand the challenger's incumbent over at the budget's midpoint (the child's search
        # goes on undisturbed; this one goes on from the better of the two); one after the other only where the
        # work budget decides (on the clock the halves would not meet at a common midpoint).
        handover = twin and self.handover and (mode == "race" or budget.deterministic)
        if mode == "sequential":
            def sequential() -> RawSolution:
                # One leg after the other: the same plan as side by side when the work budget decides (the
                # challenger first when it hands over its incumbent).
                first = budget if budget.deterministic else budget.split(0.5)
                if handover:
                    box = _Mailbox()
                    other = _pyvrp(box, give=True).solve(inst, params, previous_worker=previous_worker,
                                                         progress=progress, should_stop=should_stop,
                                                         deadline=budget)
                    own = _pyvrp(box, give=False).solve(inst, own_params, previous_worker=previous_worker,
                                                        progress=progress, should_stop=should_stop,
                                                        deadline=budget)
                    return _better(inst, params, previous_worker, own, other, budget)
                own = own_engine.solve(inst, own_params, previous_worker=previous_worker, progress=progress,
                                       should_stop=should_stop, deadline=first)
                if should_stop is not None and should_stop():
                    return own
                other = _engine(challenger).solve(inst, params, previous_worker=previous_worker,
                                                  progress=progress, should_stop=should_stop, deadline=budget)
                return _better(inst, params, previous_worker, own, other, budget)

            return sequential

        ctx = mp.get_context("fork")
        stop = ctx.Event()
        recv, send = ctx.Pipe(duplex=False)
        # The challenger's modules are imported here, once per process, not in every forked child.
        engine = _engine("vroom-peer" if pair else challenger)
        offer: Any = None
        offered: Any = None
        if pair and self.peer_handover:
            # The peer's VROOM routes go to the hybrid here before its ruin and recreate (measured, off by default);
            # the peer searches on with the second seed so the two do not retrace one path from the same routes.
            offer, offered = ctx.Pipe(duplex=False)
            engine.give = offered.send
            own_engine.take = lambda: offer.recv() if offer.poll() else None
            child_params = dataclasses.replace(params, seed=second_seed(params.seed))
        else:
            child_params = params
        take = give = None
        if handover:
            take, give = ctx.Pipe(duplex=False)
            engine, own_engine = _pyvrp(give, give=True), _pyvrp(take, give=False)
        child = ctx.Process(target=_child, args=(inst, child_params, budget, stop, send, engine, previous_worker),
                            name="salpimi-race")
        child.start()
        send.close()
        if offered is not None:
            offered.close()
        if give is not None:
            give.close()

        def stopping() -> bool:
            if should_stop is not None and should_stop():
                stop.set()
                return True
            return False

        def finish() -> RawSolution:
            try:
                own = own_engine.solve(inst, own_params, previous_worker=previous_worker, progress=progress,
                                       should_stop=stopping if should_stop is not None else None, deadline=budget)
            except BaseException:
                stop.set()
                child.join(timeout=_GRACE_S)
                if child.is_alive():
                    child.terminate()
                    child.join()
                raise
            got: Any = None
            # Both legs share the one deadline; in the deterministic mode, where the work budgets decide, the
            # challenger gets longer past it before its plan is given up (a safety net only).  A VROOM peer leg
            # gets a moment only: its VROOM run cannot be stopped.
            wait = budget.remaining() + (_PEER_WAIT_S if pair else budget.grace_s + _GRACE_S + (
                budget.cap_s if budget.deterministic else 0.0))
            if recv.poll(wait):
                try:
                    got = recv.recv()
                except EOFError:
                    got = None
            else:
                stop.set()
                if not pair and recv.poll(_GRACE_S):
                    got = recv.recv()
            child.join(timeout=0.0 if pair and got is None else _GRACE_S)
            if child.is_alive():
                child.terminate()
                child.join()
            if take is not None:
                take.close()
            if offer is not None:
                offer.close()
            return _better(inst, params, previous_worker, own, got if isinstance(got, RawSolution) else None,
                           budget)

        return finish
