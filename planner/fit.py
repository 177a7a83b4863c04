"""Hand work on a plan: where an unassigned visit could fit (and what it would cost), and moving a visit by hand."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from .domain import Problem
from .insertion import InsertionIndex
from .instance import Instance, compile_instance
from .joint import links, schedule_routes
from .plan import Crew, Partner, Plan, Reason, Route, Stop, Unassigned
from .risk import RiskModel
from .schedule import Timing, schedule_route
from .travel.base import TravelTimeProvider

__all__ = ["FitOption", "move_visit", "where_it_fits"]

_TRIES = 12  # cheapest insertion gaps re-timed per visit (as the explanations do)
_DISPLACE_TRIES = 40  # routes re-timed per visit while looking for a stop to take out


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOption:
    """One way to plan an unassigned visit: into ``worker_id``'s route at ``position`` (0-based).

    ``added_s`` is how much longer the worker's day gets (departure to return), ``added_travel_s`` the
    extra travel, ``overtime_s`` how far it would overrun the shift or working-time limit (0 when it
    ``fits``).  ``displaces`` names the stop that has to come out of the route to make room, if any.
    """

    visit_id: str
    worker_id: str
    position: int
    start_s: int
    added_s: int
    added_travel_s: int
    overtime_s: int
    fits: bool
    after_visit_id: str = ""
    before_visit_id: str = ""
    displaces: str = ""


def _node(inst: Instance, v: int, stop: Stop) -> int:
    """The routing node of ``stop``: a joint visit's seat node (the seat its crew names), else the visit."""
    nodes = inst.crew[v] if inst.crew else ()
    if nodes and stop.crew is not None and 0 <= stop.crew.seat < len(nodes):
        return nodes[stop.crew.seat]
    return v


def _orders(inst: Instance, plan: Plan) -> list[tuple[int, ...]]:
    vidx = {inst.visit(v).id: v for v in range(inst.n_visits)}
    widx = {inst.worker(w).id: w for w in range(inst.n_workers)}
    routes: list[tuple[int, ...]] = [() for _ in range(inst.n_workers)]
    for r in plan.routes:
        if r.worker_id in widx:
            routes[widx[r.worker_id]] = tuple(_node(inst, vidx[s.visit_id], s) for s in r.stops
                                              if s.visit_id in vidx)
    return routes


def _span(t: Timing) -> int:
    return t.return_s - t.depart_s


def _travel(t: Timing) -> int:
    return sum(s for s, _ in t.legs)


def _time(inst: Instance, w: int, order: tuple[int, ...]) -> Timing | None:
    """The route's timing within the shift, else with overtime, else ``None`` (windows or travel impossible)."""
    t = schedule_route(inst, w, order)
    if t.ok:
        return t
    t = schedule_route(inst, w, order, relax=True)
    return t if t.ok else None


def _option(inst: Instance, v: int, w: int, order: tuple[int, ...], pos: int, base: Timing,
            displaced: int | None) -> FitOption | None:
    new = (*order[:pos], v, *order[pos:])
    t = _time(inst, w, new)
    if t is None:
        return None
    return FitOption(
        visit_id=inst.visit(v).id, worker_id=inst.worker(w).id, position=pos, start_s=t.starts[pos],
        added_s=_span(t) - (_span(base) if base.ok else 0), added_travel_s=_travel(t) - _travel(base),
        overtime_s=t.overtime_s, fits=t.overtime_s == 0,
        after_visit_id=inst.visit(new[pos - 1]).id if pos > 0 else "",
        before_visit_id=inst.visit(new[pos + 1]).id if pos + 1 < len(new) else "",
        displaces=inst.visit(displaced).id if displaced is not None else "",
    )


def where_it_fits(
    problem: Problem, plan: Plan, travel: TravelTimeProvider, *, risk_model: RiskModel | None = None,
    visit_ids: Collection[str] | None = None, keep: Collection[str] = (), per_visit: int = 3,
) -> dict[str, tuple[FitOption, ...]]:
    """For each unassigned visit of ``plan`` (or those of ``visit_ids``), its cheapest insertions.

    The candidates are the planner's own (:class:`~planner.insertion.InsertionIndex`, as the
    explanations of unassigned visits use them), each re-timed with the scheduler.  When no
    insertion fits a shift, the visit is also tried in the place of one optional stop of a qualified
    worker (lowest skip penalty first; never a mandatory or urgent stop, nor one in ``keep``, e.g. done
    or under way).  Options fitting without displacing anything come first, then those displacing a
    stop, then those needing overtime, each cheapest first.
    """
    inst = compile_instance(problem, travel, risk_model=risk_model)
    routes = _orders(inst, plan)
    bases = [schedule_route(inst, w, routes[w], relax=True) for w in range(inst.n_workers)]
    index = InsertionIndex(inst, routes)
    vidx = {inst.visit(v).id: v for v in range(inst.n_visits)}
    wanted = [u.visit_id for u in plan.unassigned] if visit_ids is None else list(visit_ids)
    planned = {v for r in routes for v in r}
    fixed = set(keep)
    # a visit that must follow one not planned cannot go anywhere (precedence_missing_first) until its first does
    waiting = {b for a, b, _low, _high in inst.precedences if a not in planned}
    starts: dict[int, int] = {}  # planned visits' starts, for the gaps of precedences
    for r in plan.routes:
        for stop in r.stops:
            if stop.visit_id in vidx:
                k = vidx[stop.visit_id]
                starts[k] = min(starts.get(k, stop.start_s), stop.start_s)
    # on a joint day an option in a route tied to others is timed with them (the pairs together, the gaps kept)
    tied_routes = _tied_workers(inst, routes) if inst.joint else set()
    widx = {inst.worker(w).id: w for w in range(inst.n_workers)}
    kept = _kept_timings(inst, plan, routes, set()) if tied_routes else None
    out: dict[str, tuple[FitOption, ...]] = {}
    for vid in wanted:
        v = vidx.get(vid)
        if v is None or v in planned or inst.visit(v).crew or v in waiting:
            continue  # a joint visit needs two routes at once: the explanation says what blocked it
        options: list[FitOption] = []
        for _det, w, pos in index.candidates(v, relax=True, per_worker=3, limit=_TRIES):
            opt = _option(inst, v, w, routes[w], pos, bases[w], None)
            if opt is not None:
                options.append(opt)
        if not any(o.fits for o in options):
            tries = 0
            stops = sorted(
                ((float(inst.penalty[u]), w, k) for w in sorted(inst.allowed[v]) for k, u in enumerate(routes[w])
                 if not (inst.visit(u).mandatory or inst.visit(u).urgent or inst.visit(u).crew)
                 and inst.visit(u).id not in fixed),
            )
            for _pen, w, k in stops:
                if tries >= _DISPLACE_TRIES:
                    break
                u = routes[w][k]
                without = routes[w][:k] + routes[w][k + 1:]
                for pos in sorted({max(0, k - 1), k, min(len(without), k + 1)}):
                    tries += 1
                    opt = _option(inst, v, w, without, pos, bases[w], u)
                    if opt is not None and opt.fits:
                        options.append(opt)
                        break
                if sum(1 for o in options if o.displaces) >= per_visit:
                    break
        if tied_routes:
            options = [t for o in options if (t := o if widx[o.worker_id] not in tied_routes else
                                              _tied_option(inst, v, routes, widx[o.worker_id], o, kept)) is not None]
        options = [o for o in options if _keeps_gaps(inst, v, o.start_s, starts)]
        options.sort(key=lambda o: (not o.fits, o.displaces != "", o.overtime_s, o.added_s, o.worker_id, o.position))
        out[vid] = tuple(options[:per_visit])
    return out


def _tied_workers(inst: Instance, routes: list[tuple[int, ...]]) -> set[int]:
    link, _ = links(inst, routes)
    linked = {n for a, b, _, _ in link for n in (a, b)}
    return {w for w, order in enumerate(routes) if any(n in linked for n in order)}


def _tied_option(inst: Instance, v: int, routes: list[tuple[int, ...]], w: int, o: FitOption,
                 kept: list[Timing] | None) -> FitOption | None:
    """``o`` (into worker ``w``'s route, tied to others) re-timed with the routes tied to it (as
    :func:`move_visit` would time it), or ``None`` when no timing keeps the pairs together and the gaps."""
    cand = list(routes)
    order = tuple(n for n in routes[w] if not o.displaces or inst.visit(n).id != o.displaces)
    cand[w] = (*order[:o.position], v, *order[o.position:])
    ts = _tied_timings(inst, cand, {w}, kept)
    if ts is None:
        return None
    t = ts[w]
    return replace(o, start_s=t.starts[o.position], overtime_s=t.overtime_s, fits=t.overtime_s == 0)


def _keeps_gaps(inst: Instance, v: int, start_s: int, starts: dict[int, int]) -> bool:
    """Whether visit ``v`` starting at ``start_s`` keeps the gap of every precedence with a planned partner."""
    for a, b, low, high in inst.precedences:
        if b == v and a in starts:
            gap = start_s - starts[a]
        elif a == v and b in starts:
            gap = starts[b] - start_s
        else:
            continue
        if gap < low or (high >= 0 and gap > high):
            return False
    return True


def _crew(inst: Instance, node: int, worker_of: dict[int, int]) -> Crew | None:
    v, seat = inst.seat_of(node)
    nodes = inst.crew[v] if inst.crew else ()
    if not nodes:
        return None
    return Crew(seat=seat, partners=tuple(
        Partner(worker_id=inst.worker(worker_of[n]).id, role=inst.worker(worker_of[n]).role.value)
        for n in nodes if n != node and n in worker_of))


def _route(inst: Instance, w: int, order: tuple[int, ...], t: Timing,
           worker_of: dict[int, int] | None = None) -> Route:
    worker = inst.worker(w)
    stops = tuple(
        Stop(visit_id=inst.visit(v).id, household_id=inst.visit(v).household_id, arrival_s=t.arrivals[k],
             start_s=t.starts[k], end_s=t.ends[k], travel_s=t.legs[k][0], travel_m=t.legs[k][1],
             crew=_crew(inst, v, worker_of) if worker_of is not None else None)
        for k, v in enumerate(order)
    )
    brk = t.break_start_s
    return Route(worker_id=worker.id, depart_s=t.depart_s, return_s=t.return_s, stops=stops, break_start_s=brk,
                 break_end_s=None if brk is None else brk + worker.break_s,
                 travel_s=sum(s for s, _ in t.legs), travel_m=sum(m for _, m in t.legs))


def move_visit(
    problem: Problem, plan: Plan, travel: TravelTimeProvider, *, visit_id: str, worker_id: str | None,
    position: int | None = None, displace: str | None = None, risk_model: RiskModel | None = None,
    from_worker_id: str | None = None,
) -> Plan:
    """``plan`` with ``visit_id`` moved by hand: into ``worker_id``'s route at ``position`` (0-based; ``None``
    = the position that fits best), or left out (``worker_id=None``); ``displace`` takes another stop out of
    that route first (it becomes unassigned).  The routes that change are re-timed by the scheduler (with
    overtime where the shift is too short); nothing is checked here: evaluate the result.

    A joint visit moves one seat at a time: ``from_worker_id`` names the worker whose seat goes to
    ``worker_id``; the partners stay where they are and every route tied to the moved one (its partners',
    a precedence's other visit) is re-timed with it so the seats still start together and the gaps hold.
    Where no such timing exists the changed routes are timed on their own and the evaluator names what
    broke (``crew_not_synchronised``, ``precedence_gap``).  Left out (``worker_id=None``), a joint visit
    leaves every route at once.

    Raises ``ValueError`` naming the field (``visit_id``, ``worker_id``, ``position``, ``displace_visit_id``,
    ``from_worker_id``) when it names nothing in the day, or when the new route cannot be timed at all (a
    time window nobody can reach).
    """
    inst = compile_instance(problem, travel, risk_model=risk_model)
    vidx = {inst.visit(v).id: v for v in range(inst.n_visits)}
    widx = {inst.worker(w).id: w for w in range(inst.n_workers)}
    if visit_id not in vidx:
        raise ValueError(f"visit_id: {visit_id} is not a visit of this day")
    if worker_id is not None and worker_id not in widx:
        raise ValueError(f"worker_id: {worker_id} is not a worker of this day")
    if displace is not None and (displace not in vidx or displace == visit_id):
        raise ValueError(f"displace_visit_id: {displace} is not another visit of this day")
    v = vidx[visit_id]
    if displace is not None and inst.visit(vidx[displace]).crew:
        raise ValueError(f"displace_visit_id: {displace} is a joint visit; it leaves with its whole crew (move it "
                         "out first)")
    routes = _orders(inst, plan)
    where = {n: w for w, order in enumerate(routes) for n in order}
    seats = inst.crew[v] if inst.crew and inst.visit(v).crew else ()
    node = v  # the node that moves
    if seats and worker_id is not None:
        held = {inst.worker(where[n]).id: n for n in seats if n in where}
        if not held:
            raise ValueError(f"visit_id: {visit_id} is a joint visit left out; it needs {len(seats)} workers at "
                             "once (re-plan to put it back)")
        if from_worker_id is None or from_worker_id not in held:
            raise ValueError(f"from_worker_id: name the worker whose seat of joint visit {visit_id} moves (one of "
                             f"{', '.join(sorted(held))})")
        if worker_id != from_worker_id and worker_id in held:
            raise ValueError(f"worker_id: {worker_id} already takes another seat of joint visit {visit_id}; one "
                             "worker cannot take two")
        node = held[from_worker_id]
    elif from_worker_id is not None and not seats:
        raise ValueError(f"from_worker_id: only for a joint visit; {visit_id} has one worker")
    if displace is not None and (worker_id is None or vidx[displace] not in routes[widx[worker_id]]):
        raise ValueError(f"displace_visit_id: {displace} is not on {worker_id}'s route")
    leaving = {node} if worker_id is not None else ({v, *seats} if seats else {v})
    if displace is not None:
        leaving.add(vidx[displace])
    changed: set[int] = set()
    for w, order in enumerate(routes):
        if any(x in leaving for x in order):
            routes[w] = tuple(x for x in order if x not in leaving)
            changed.add(w)
    if worker_id is not None:
        w = widx[worker_id]
        order = routes[w]  # a hand move may break qualification rules: the evaluator says so
        if position is not None and not 0 <= position <= len(order):
            raise ValueError(f"position: must lie in 0..{len(order)} for {worker_id}")
        spots = [position] if position is not None else list(range(len(order) + 1))
        best: tuple[tuple[int, int, int], tuple[int, ...]] | None = None
        for pos in spots:
            new = (*order[:pos], node, *order[pos:])
            t = _time(inst, w, new)
            if t is not None:
                key = (t.overtime_s, _span(t), pos)
                if best is None or key < best[0]:
                    best = (key, new)
        if best is None:
            raise ValueError(f"position: {visit_id} cannot be timed in {worker_id}'s route there "
                             "(no time window can be reached)")
        routes[w] = best[1]
        changed.add(w)
    new_routes = _retimed(inst, plan, routes, changed, visit_id)
    left = [u for u in plan.unassigned if u.visit_id != visit_id and u.visit_id != displace]
    for vid, why in ((visit_id, "Left out by hand."), (displace, f"Taken out by hand to make room for {visit_id}.")):
        if vid is None or (vid == visit_id and worker_id is not None):
            continue
        visit = inst.visit(vidx[vid])
        left.append(Unassigned(visit_id=vid, household_id=visit.household_id, reason=Reason.LOWER_PRIORITY,
                               detail=why, mandatory=visit.mandatory, urgent=visit.urgent))
    edit = {"visit_id": visit_id, "worker_id": worker_id, "displaced": displace}
    if from_worker_id is not None:
        edit["from_worker_id"] = from_worker_id
    meta = {**plan.meta, "edit": edit}
    return replace(plan, routes=tuple(new_routes), unassigned=tuple(left), kpis=None, meta=meta)


def _kept_timings(inst: Instance, plan: Plan, routes: list[tuple[int, ...]],
                  changed: set[int]) -> list[Timing] | None:
    """The plan's own times of the routes a hand move leaves unchanged (each stop pinned where it was), as
    :func:`planner.joint.schedule_routes` takes them; ``None`` when one of them cannot be timed so."""
    link, _ = links(inst, routes)
    linked = {n for a, b, _, _ in link for n in (a, b)}
    out: list[Timing] = []
    for w, order in enumerate(routes):
        old = plan.route_of(inst.worker(w).id)
        if w in changed or not order:
            out.append(schedule_route(inst, w, order))  # a changed route's entry is not read
            continue
        if old is None or len(old.stops) != len(order):
            return None
        pins = {n: (s.start_s, s.start_s) for n, s in zip(order, old.stops, strict=True)}
        tied = {n: pin for n, pin in pins.items() if n in linked}  # if the other stops cannot be kept exactly
        t = next((t for clip, relax in ((pins, False), (pins, True), (tied, False), (tied, True))
                  if (t := schedule_route(inst, w, order, clip=clip, relax=relax)).ok), None)
        if t is None:
            return None
        out.append(t)
    return out


def _tied_timings(inst: Instance, routes: list[tuple[int, ...]], changed: set[int],
                  kept: list[Timing] | None) -> list[Timing] | None:
    """Timings of ``routes`` after the ``changed`` ones changed that keep every joint visit's seats together and
    every gap: from the ``kept`` times of the others (:func:`_kept_timings`), else afresh; within the shifts if
    possible, else with overtime; ``None`` when no such timing is found."""
    starts = (kept, None) if kept is not None else (None,)  # the plan's own times first, then afresh
    for relax, known in ((relax, known) for relax in (False, True) for known in starts):
        linked = schedule_routes(inst, routes, relax=relax, known=known,
                                 changed=changed if known is not None else None, lenient=True)
        if all(t.ok for w, t in enumerate(linked) if routes[w]):
            return list(linked)
    return None


def _retimed(inst: Instance, plan: Plan, routes: list[tuple[int, ...]], changed: set[int],
             visit_id: str) -> list[Route]:
    """The plan's routes after a hand move: the ``changed`` ones re-timed, and on a day of joint visits or
    precedences every route tied to them too (seats together, gaps kept; within the shifts if possible, else
    with overtime).  The other routes keep their times where they can (a tied route moves only as far as the
    changed ones push it; one no change reaches keeps its times); failing that the tied routes are timed
    afresh together.  When the ties cannot hold, the changed routes are timed on their own and the rest kept."""
    timings: list[Timing | None] = [None] * inst.n_workers
    if inst.joint:
        tied = _tied_timings(inst, routes, changed, _kept_timings(inst, plan, routes, changed))
        if tied is not None:
            timings = list(tied)
    worker_of = {n: w for w, order in enumerate(routes) for n in order}
    out: list[Route] = []
    for w in range(inst.n_workers):
        old = plan.route_of(inst.worker(w).id)
        t = timings[w]
        if t is not None and routes[w] and w not in changed and old is not None \
                and tuple(s.start_s for s in old.stops) == t.starts:
            out.append(old)  # a tied route whose times stay as they were
            continue
        if t is None:
            if w not in changed:
                if old is not None:
                    out.append(old)
                continue
            if routes[w]:
                t = _time(inst, w, routes[w])
                if t is None:
                    raise ValueError(f"worker_id: {inst.worker(w).id}'s route cannot be timed without {visit_id}")
        if routes[w] and t is not None:
            out.append(_route(inst, w, routes[w], t, worker_of if inst.joint else None))
    if not any(inst.crew):
        return out
    widx = {inst.worker(w).id: w for w in range(inst.n_workers)}
    # a partner's route keeps its times but names the seat's new worker
    return [replace(r, stops=tuple(
        replace(s, crew=_crew(inst, n, worker_of)) if inst.visit(n).crew else s
        for s, n in zip(r.stops, routes[widx[r.worker_id]], strict=True)))
        if r.worker_id in widx and len(r.stops) == len(routes[widx[r.worker_id]]) else r for r in out]
