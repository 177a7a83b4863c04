"""The planner's commands (plan, check, schema, network) and their parser; the service adds its own to it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .domain import Problem
from .evaluate import evaluate
from .formats.horizon import (
    horizon_from_json,
    horizon_json_schema,
    horizon_plan_from_json,
    horizon_plan_to_json,
    is_horizon_json,
)
from .formats.plan import plan_from_json, plan_json_schema, plan_to_json
from .io import ProblemFileError, load_problem, problem_json_schema, read_json
from .params import SOLVERS, SolveParams
from .plan import Stop
from .scenarios import cli as scenarios_cli
from .solve import Result, solve
from .solvers.base import Progress
from .solvers.budget import pace
from .timeline import format_hhmm, parse_date
from .travel import netcli
from .travel.base import TravelTimeProvider
from .travel.haversine import HaversineProvider
from .travel.matrix import MatrixProvider

__all__ = ["build_parser", "main", "register"]


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"salpimi: {message} (see --help)\n")


def _date(text: str) -> Any:
    try:
        return parse_date(text, field="--date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _day(flag: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return parse_date(text, field=flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text!r} must lie in (0, 86400]")
    return value


def _seed(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 2**31 - 1:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not an integer in 0..2147483647")
    return int(text)


def _work(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 10**9:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not an integer in 1..1000000000")
    return int(text)


def _process_age_s() -> float:
    """Seconds since this process started (Linux ``/proc``; 0 where it cannot be read)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            after_name = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime_s = float(f.read().split()[0])
        return max(0.0, uptime_s - int(after_name[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return 0.0


def _start_pace(params: SolveParams) -> float | None:
    """Wall seconds per CPU second since this process started (its start-up and imports: CPU-bound work of a
    second or more, a longer stretch to tell the machine's pace by than compiling a small day), for the solve's
    post-pass reserve, as a job's worker hands over its own; none in the deterministic mode."""
    if params.deterministic:
        return None
    return pace(_process_age_s(), time.process_time())


def _params(args: argparse.Namespace, limit: float) -> SolveParams:
    """The search parameters of ``plan``: the same from the command line as from an API job.

    ``--time-limit`` is the whole command's budget: the interpreter's start-up and the imports (0.5-2.5 s on
    a busy machine) come out of it, as a job's worker's do, keeping at least half for the solve.  In the
    deterministic mode the work budget decides and the limit is a safety cap, kept as given."""
    if not args.deterministic:
        limit = round(max(limit / 2, limit - _process_age_s()), 2)
    extra = {} if args.solution_limit is None else {"solution_limit": args.solution_limit}
    return SolveParams(time_limit_s=limit, seed=args.seed, deterministic=args.deterministic, solver=args.solver,
                       **extra)


def printable(text: object, *, limit: int = 500) -> str:
    """One line for the terminal: control characters escaped, cut to ``limit`` characters."""
    out = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _travel(args: argparse.Namespace, problem: Problem) -> TravelTimeProvider:
    """The problem's own travel matrix, else the named road network, else straight lines."""
    name = getattr(args, "network", None)
    if problem.travel_matrix is not None:
        if name:
            raise UsageError(f"--network {name}: the problem carries its own travel_matrix; use one or the other")
        return MatrixProvider(problem.travel_matrix)
    if name:
        from .travel import networks

        data_dir = getattr(args, "data_dir", None)
        try:
            return networks.provider_for(name, data_dir=Path(data_dir) if data_dir else None)
        except (ValueError, OSError) as exc:
            raise UsageError(str(exc)) from None
    return HaversineProvider()


#: ``salpimi check``: the safety cap of the coverage bound it states.
_CHECK_BOUND_S = 5.0


def _print_plan(result: Result, out: Any) -> None:
    inst, plan = result.instance, result.plan
    workers = inst.problem.workers_by_id()
    households = inst.problem.households_by_id()
    kinds = {v.id: v.kind.value for v in inst.problem.visits}
    risk = {inst.visit(v).id: inst.risk[v] for v in range(inst.n_visits)}
    for route in plan.routes:
        w = workers[route.worker_id]
        label = f" {w.name}" if w.name else ""
        print(
            f"\n{route.worker_id}{label} [{w.role.value}, {w.travel_mode.value}] "
            f"{format_hhmm(route.depart_s)}-{format_hhmm(route.return_s)}, {len(route.stops)} visits, "
            f"travel {route.travel_s // 60} min / {route.travel_m / 1000:.1f} km",
            file=out,
        )
        print(f"  {'arrive':>6} {'start':>5} {'end':>5}  {'visit':<14} {'household':<12} {'dong':<8} {'kind':<10} tier",
              file=out)
        rows: list[tuple[int, str, Stop | None]] = [(s.start_s, "stop", s) for s in route.stops]
        if route.break_start_s is not None:
            rows.append((route.break_start_s, "break", None))
        for _, _kind, s in sorted(rows, key=lambda r: (r[0], r[1] == "stop")):
            if s is None:
                assert route.break_start_s is not None and route.break_end_s is not None
                b0, b1 = format_hhmm(route.break_start_s), format_hhmm(route.break_end_s)
                print(f"  {'':>6} {b0:>5} {b1:>5}  lunch break", file=out)
                continue
            h = households.get(s.household_id)
            joint = "" if s.crew is None else "  with " + ", ".join(
                f"{p.worker_id} ({p.role})" for p in s.crew.partners)  # a joint visit: who starts with them
            print(
                f"  {format_hhmm(s.arrival_s):>6} {format_hhmm(s.start_s):>5} {format_hhmm(s.end_s):>5}  "
                f"{s.visit_id:<14} {s.household_id:<12} {(h.dong if h else ''):<8} {kinds.get(s.visit_id, ''):<10} "
                f"{risk[s.visit_id].tier}{joint}",
                file=out,
            )
    idle = [w.id for w in inst.problem.workers if plan.route_of(w.id) is None]
    if idle:
        print(f"\nNo visits today: {', '.join(idle)}", file=out)
    if plan.unassigned:
        print(f"\nUnassigned ({len(plan.unassigned)}):", file=out)
        for u in plan.unassigned:
            flag = " MANDATORY" if u.mandatory else (" URGENT" if u.urgent else "")
            print(f"  {u.visit_id:<14} {u.household_id:<12} {u.reason.value}{flag}: {u.detail}", file=out)
    k = plan.kpis
    if k is None:
        return
    tiers = ", ".join(f"{t} {d.served}/{d.total}" for t, d in k.visits_by_tier.items() if d.total)
    print(
        f"\nCovered {k.visits_assigned}/{k.visits_total} visits; risk-weighted coverage "
        f"{k.risk_weighted_coverage:.2%}; by tier: {tiers}; travel {k.travel_s // 60} min.",
        file=out,
    )
    if k.coverage_bound is not None:
        print(f"Risk covered {k.risk_covered:,.1f} of at most {k.coverage_bound:,.1f} "
              f"(gap {100 * (k.coverage_gap or 0.0):.3f} %; bound: {k.coverage_bound_method}).", file=out)
    wo = k.worst_overdue_left_out
    if wo is not None:
        print(f"Most overdue high-risk household left out: {wo.household_id} ({wo.tier}, "
              f"{wo.days_overdue} days overdue).", file=out)


def _cmd_plan(args: argparse.Namespace) -> int:
    if args.start is not None or args.end is not None:
        if args.date is not None:
            raise UsageError("--date plans one day; give --from and --to for several, not both")
        return _cmd_plan_horizon(args, read_json(args.problem, what="problem"))
    if args.date is None:
        raw = read_json(args.problem, what="problem")
        if is_horizon_json(raw):
            return _cmd_plan_horizon(args, raw)
    problem = load_problem(args.problem, date=args.date)
    out = _out_path(args.out, problem_file=args.problem) if args.out else None
    travel = _travel(args, problem)
    if problem.travel_matrix is not None:
        print(f"Travel: the problem's own travel_matrix ({printable(problem.travel_matrix.source, limit=60)}).",
              file=sys.stderr)
    elif not getattr(args, "network", None):
        print("Travel: straight-line estimates (great-circle x detour); use --network NAME for streets.",
              file=sys.stderr)
    limit = args.time_limit if args.time_limit is not None else 10.0
    params = _params(args, limit)
    tty = sys.stderr.isatty()

    def progress(p: Progress) -> None:
        if args.quiet:
            return
        line = (f"  {p.elapsed_s:5.1f} s  objective {p.objective:>14,}  "
                f"visits {p.visits_covered}/{p.visits_total}")
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    if not args.quiet:
        print(f"Planning {len(problem.visits)} candidate visits with {len(problem.workers)} workers "
              f"for {problem.date} (limit {limit:g} s)…", file=sys.stderr)
    t0 = time.perf_counter()
    result = solve(problem, travel, params, progress=progress, known_pace=_start_pace(params))
    if tty and not args.quiet:
        print(file=sys.stderr)
    if not args.quiet:
        print(f"Solved in {time.perf_counter() - t0:.1f} s.", file=sys.stderr)
    _print_plan(result, sys.stdout)
    if out is not None:
        _write_atomically(out, json.dumps(plan_to_json(result.plan), ensure_ascii=False, indent=1) + "\n")
        print(f"\nPlan written to {args.out}", file=sys.stderr)
    return 0


def _cmd_plan_horizon(args: argparse.Namespace, raw: Any) -> int:
    """``plan --from --to``: choose each visit's day, route every day, print the week and each day's routes."""
    from .horizon import plan_horizon
    from .horizon.report import print_kpis, print_left_out, print_week

    try:
        problem = horizon_from_json(raw, start=args.start, end=args.end)
    except (ValueError, TypeError) as exc:
        raise ProblemFileError(f"problem {args.problem}: {exc}") from None
    out = _out_path(args.out, problem_file=args.problem) if args.out else None
    travel = _travel(args, problem.template(problem.start))
    n_days = problem.n_days
    limit = args.time_limit if args.time_limit is not None else min(60.0, 10.0 * n_days)
    params = _params(args, limit)
    if not args.quiet:
        count = sum(hv.count for hv in problem.visits)
        print(f"Planning {count} visits ({len(problem.visits)} requests) with {len(problem.workers)} workers "
              f"over {problem.start}..{problem.end} (limit {limit:g} s)…", file=sys.stderr)
    result = plan_horizon(problem, travel, params)
    if not args.quiet:
        print(f"Solved in {result.elapsed_s:.1f} s.", file=sys.stderr)
    holidays = result.meta.get("holidays", {})
    print_week(result.summary, problem.dates(),
               {parse_date(k): str(v) for k, v in holidays.items()}, sys.stdout)
    for day in result.days:
        print(f"\n=== {day.date:%A %Y-%m-%d} ===", file=sys.stdout)
        _print_plan(day.result, sys.stdout)
    print_left_out(result.unassigned, sys.stdout)
    print_kpis(result.summary.kpis, sys.stdout)
    if out is not None:
        text = json.dumps(horizon_plan_to_json(result.horizon_plan()), ensure_ascii=False, indent=1) + "\n"
        _write_atomically(out, text)
        print(f"\nPlan written to {args.out}", file=sys.stderr)
    return 0


def _out_path(text: str, *, problem_file: str) -> Path:
    """Where ``--out`` may write: a new or regular file in an existing folder, never the input."""
    out = Path(text)
    if out.is_dir():
        raise UsageError(f"--out {text}: is a folder; name a file")
    if out.exists() and not out.is_file():
        raise UsageError(f"--out {text}: not a regular file")
    if not out.parent.is_dir():
        raise UsageError(f"--out {text}: folder {out.parent} does not exist")
    if out.exists() and out.resolve() == Path(problem_file).resolve():
        raise UsageError(f"--out {text}: is the problem file; choose another name")
    return out


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A failure midway leaves ``path`` as it was; the rename replaces a symbolic link itself,
    never the file it points to.
    """
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cmd_check(args: argparse.Namespace) -> int:
    raw = read_json(args.plan, what="plan")
    if isinstance(raw, dict) and "plans" in raw:
        return _cmd_check_horizon(args, raw)
    problem = load_problem(args.problem, date=args.date)
    try:
        plan = plan_from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"plan {args.plan}: {exc}") from None
    if args.date is None and plan.date != problem.date:
        problem = load_problem(args.problem, date=plan.date)
    ev = evaluate(problem, plan, _travel(args, problem), bound_s=_CHECK_BOUND_S)
    k = ev.kpis
    print(f"{len(plan.routes)} routes, {k.visits_assigned}/{k.visits_total} visits, "
          f"risk-weighted coverage {k.risk_weighted_coverage:.1%}, travel {k.travel_s // 60} min")
    if k.coverage_bound is not None:
        print(f"Risk covered {k.risk_covered:,.1f} of at most {k.coverage_bound:,.1f} "
              f"(gap {100 * (k.coverage_gap or 0.0):.3f} %; bound: {k.coverage_bound_method}).")
    if ev.ok:
        print("OK: no violations.")
        return 0
    print(f"{len(ev.violations)} violation(s):")
    for v in ev.violations:
        print(f"  [{v.code}] {printable(v.message)}")
    return 1


def _cmd_check_horizon(args: argparse.Namespace, raw: Any) -> int:
    from .horizon import evaluate_horizon

    try:
        plan = horizon_plan_from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"plan {args.plan}: {exc}") from None
    try:
        problem = horizon_from_json(read_json(args.problem, what="problem"), start=plan.start, end=plan.end)
    except (ValueError, TypeError) as exc:
        raise ProblemFileError(f"problem {args.problem}: {exc}") from None
    ev = evaluate_horizon(problem, plan, _travel(args, problem.template(problem.start)))
    visits = sum(len(r.stops) for p in plan.plans for r in p.routes)
    print(f"{len(plan.plans)} day plan(s) over {plan.start}..{plan.end}, {visits} visits planned, "
          f"{len(plan.unassigned)} left out")
    found = ev.all_violations()
    if not found:
        print("OK: no violations.")
        return 0
    print(f"{len(found)} violation(s):")
    for v in found:
        print(f"  [{v.code}] {printable(v.message)}")
    return 1


def _cmd_schema(args: argparse.Namespace) -> int:
    if getattr(args, "horizon", False):
        print(json.dumps(horizon_json_schema(), ensure_ascii=False, indent=2))
        return 0
    schema = plan_json_schema() if getattr(args, "plan", False) else problem_json_schema()
    print(json.dumps(schema, ensure_ascii=False, indent=2))
    return 0


def build_parser(*extensions: Callable[[Any], object]) -> argparse.ArgumentParser:
    """The ``salpimi`` parser: the planner's commands, then each extension's.

    Parameters
    ----------
    extensions
        Functions ``register(subparsers)`` adding more commands (the service's ``register`` adds
        serve, db, load and user); each command's ``func(args) -> int`` reports its own bad input.
    """
    parser = _Parser(prog="salpimi", description="Outreach visit planning for welfare services.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    register(sub)
    for extension in extensions:
        extension(sub)
    return parser


def register(sub: Any) -> None:
    """Add ``plan``, ``check``, ``schema``, ``network`` and ``scenarios`` to an argparse subparsers object."""
    p = sub.add_parser("plan", help="plan a day's visits")
    p.add_argument("problem", help="problem JSON file (see `salpimi schema`)")
    p.add_argument("--date", type=_date, help="planning day YYYY-MM-DD (default: the file's)")
    p.add_argument("--from", dest="start", type=_day("--from"), default=None,
                   help="plan several days: first day YYYY-MM-DD (a day file's visits, or a horizon file)")
    p.add_argument("--to", dest="end", type=_day("--to"), default=None,
                   help="last day YYYY-MM-DD (inclusive; at most 28 days)")
    p.add_argument("--time-limit", type=_positive, default=None,
                   help="seconds for the whole solve: model, search, repair, reasons (default 10; "
                        "several days: 10 per day, at most 60)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--deterministic", action="store_true",
                   help="stop on a work budget, not the clock: same input, seed and budget, same plan "
                        "(the time limit stays a safety cap)")
    p.add_argument("--solution-limit", type=_work, default=None,
                   help="the work budget of --deterministic (solutions the search accepts; default 2000)")
    p.add_argument("--solver", choices=SOLVERS, default="auto",
                   help="the engine (default auto: the day's hybrid raced against OR-Tools where a second "
                        "process may run; the same plan either way with --deterministic)")
    p.add_argument("--network", help="road network imported with `salpimi network import`")
    p.add_argument("--out", help="write the plan JSON here (a file; never the problem file)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_plan)

    c = sub.add_parser("check", help="check a plan (also hand-edited) against every rule")
    c.add_argument("problem")
    c.add_argument("plan")
    c.add_argument("--date", type=_date)
    c.add_argument("--network")
    c.set_defaults(func=_cmd_check)

    s = sub.add_parser("schema", help="print the JSON Schema of the problem file (or, with --plan, of the plan file)")
    s.add_argument("--plan", action="store_true", help="the plan file's schema instead")
    s.add_argument("--horizon", action="store_true", help="the horizon (several days) problem file's schema")
    s.set_defaults(func=_cmd_schema)

    netcli.add_data_dir_option(p)
    netcli.add_data_dir_option(c)
    netcli.register(sub)
    scenarios_cli.register(sub)


def main(argv: Sequence[str] | None = None, *, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; ``parser`` defaults to the planner's commands alone (``python -m planner``)."""
    args = (parser or build_parser()).parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``salpimi schema | head``): stop quietly, as a killed pipe writer would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (UsageError, ProblemFileError, ValueError) as exc:
        print(f"salpimi: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("salpimi: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
