"""``salpimi scenarios run|compare|min-staff`` (argparse only): run specs over seeds, print KPIs side by side."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..domain import Role
from .kpis import aggregate
from .minstaff import KPI_NAMES, min_staff, parse_target
from .spec import MAX_SEEDS, POLICIES, Spec, SpecError, load_spec

__all__ = ["register"]

#: Rows of the KPI table: (name, label, format).
ROWS: tuple[tuple[str, str, str], ...] = (
    ("within_cadence.intensive", "intensive within cadence (household-days)", "pct"),
    ("within_cadence.regular", "regular within cadence", "pct"),
    ("within_cadence.self_care", "self-care within cadence", "pct"),
    ("weeks_all_within.intensive", "weeks with every intensive household within", "pct"),
    ("high_risk_overdue_worst_days", "high-risk worst overdue (days)", "num"),
    ("high_risk_overdue_p95_days", "high-risk p95 overdue (days)", "num"),
    ("urgent_reports", "crisis reports", "num"),
    ("urgent_within_24h", "crisis reports served within 24 h", "pct"),
    ("urgent_hours_median", "hours to serve a report (median)", "num"),
    ("travel_share", "travel share of working time", "pct"),
    ("utilisation", "utilisation of shift hours", "pct"),
    ("overtime_h", "overtime (hours)", "num"),
    ("workload_spread", "visits/day spread between workers", "num"),
    ("workload_cv", "working hours/day CV between workers", "num"),
    ("visits", "visits made", "num"),
    ("no_answers", "no-answers (follow-ups)", "num"),
    ("visits_not_reached", "visits not reached before the shift's end", "num"),
    ("households_end", "households at the end", "num"),
)


class _Error(Exception):
    pass


def _seeds(args: argparse.Namespace, spec: Spec | None) -> list[int]:
    n = args.seeds if args.seeds is not None else (spec.seeds if spec is not None else 5)
    if not 1 <= n <= MAX_SEEDS:
        raise SpecError(f"{n} is not in 1..{MAX_SEEDS}", key="--seeds", source="scenarios")
    return list(range(args.first_seed, args.first_seed + n))


def _policies(text: str) -> list[str]:
    if text == "all":
        return list(POLICIES)
    out = [p.strip() for p in text.split(",") if p.strip()]
    for p in out:
        if p not in POLICIES:
            raise SpecError(f"{p!r} is not one of {', '.join(POLICIES)} or all", key="--policy", source="scenarios")
    return out


def _runner(args: argparse.Namespace, store: Path | None) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Runs tasks on the chosen engine, storing results as they finish; failures end the command (one line)."""
    quiet = getattr(args, "quiet", False)

    def show(p: Any) -> None:
        if quiet:
            return
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        print(f"\r  runs: {p.done}/{p.total} done, {p.running} running, {p.left} left{eta}   ", end="",
              file=sys.stderr, flush=True)

    def run(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ..sweep import run_tasks
        from .simulate import run_task

        try:
            res = run_tasks(tasks, engine=args.engine, address=args.address, store=store, progress=show,
                            workers=args.workers, fn=run_task)
        except ImportError as exc:
            raise _Error(f"--engine {args.engine}: needs the scenarios extra: pip install 'salpimi[scenarios]' "
                         f"({exc})") from None
        if not quiet:
            print(file=sys.stderr)
        if not res.ok:
            bad = res.failed[0] if res.failed else None
            why = bad.error if bad is not None else "stopped"
            raise _Error(f"{len(res.failed)} of {len(tasks)} run(s) failed (after a retry): {str(why)[:200]}")
        return [r for r in res.results if r is not None]

    return run


def _store(args: argparse.Namespace, stem: str) -> Path | None:
    if args.store is None and not args.resume:
        return None
    path = Path(args.store) if args.store else Path(".salpimi") / "scenarios" / f"{stem}.jsonl"
    if not args.resume and path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _fmt(stats: Mapping[str, Any] | None, kind: str) -> str:
    if not stats or stats.get("mean") is None:
        return "-"

    def one(x: float) -> str:
        return f"{100 * x:.1f} %" if kind == "pct" else (f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}")

    lo, hi, mean = stats["min"], stats["max"], stats["mean"]
    if lo == hi:
        return one(mean)
    return f"{one(mean)} [{one(lo)}–{one(hi)}]"


def print_table(aggregates: Sequence[Mapping[str, Any]], out: Any = sys.stdout) -> None:
    """KPIs (mean [min–max] over seeds) side by side, one column per scenario and policy."""
    heads = [f"{a['scenario']} · {a['policy']}" for a in aggregates]
    cols = [[_fmt(a["kpis"].get(name), kind) for name, _, kind in ROWS] for a in aggregates]
    width0 = max(len(label) for _, label, _ in ROWS)
    widths = [max(len(h), *(len(c) for c in col)) for h, col in zip(heads, cols, strict=True)]
    print(f"{'':<{width0}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)), file=out)
    for i, (_, label, _) in enumerate(ROWS):
        print(f"{label:<{width0}}  " + "  ".join(f"{col[i]:>{w}}" for col, w in zip(cols, widths, strict=True)),
              file=out)
    seeds = aggregates[0]["seeds"] if aggregates else []
    if aggregates:
        a = aggregates[0]
        print(f"(mean [min–max] over seeds {seeds[0]}..{seeds[-1]}; {a['weeks']} weeks from {a['from']}, the first "
              f"{a['warmup_weeks']} not measured)", file=out)


def _write_json(path: str, data: Any) -> None:
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, p)


def _charts(args: argparse.Namespace, aggregates: list[dict[str, Any]], minstaff: dict[str, Any] | None) -> None:
    if not args.charts:
        return
    try:
        from . import charts
    except ImportError as exc:
        raise _Error(f"--charts needs matplotlib: pip install 'salpimi[scenarios]' ({exc})") from None
    written = charts.write_charts(aggregates, Path(args.charts), min_staff=minstaff)
    if not args.quiet:
        print(f"charts: {', '.join(str(p) for p in written)}")


def _run_specs(args: argparse.Namespace, specs: list[tuple[str, Spec]], policies: list[str]
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tasks: list[dict[str, Any]] = []
    groups: list[tuple[int, int]] = []
    for _, spec in specs:
        seeds = _seeds(args, spec)
        for policy in policies:
            start = len(tasks)
            tasks.extend({"spec": spec.to_dict(), "seed": s, "policy": policy, "overrides": {}} for s in seeds)
            groups.append((start, len(tasks)))
    stem = "-".join(Path(path).stem for path, _ in specs)[:80]
    results = _runner(args, _store(args, stem))(tasks)
    aggregates = [aggregate(results[a:b]) for a, b in groups]
    return aggregates, results


def cmd_run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    aggregates, results = _run_specs(args, [(args.spec, spec)], _policies(args.policy))
    print_table(aggregates)
    if args.out:
        _write_json(args.out, {"aggregates": aggregates, "results": results})
    _charts(args, aggregates, None)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Each argument is a spec (run now) or a JSON written by ``run --out`` / ``compare --out``."""
    items: list[tuple[str, list[dict[str, Any]]]] = []
    results: list[dict[str, Any]] = []
    specs: list[tuple[str, Spec]] = []
    for path in args.items:
        if path.endswith(".json"):
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
                saved = [dict(x) for x in data["aggregates"]]
            except (OSError, ValueError, KeyError, TypeError):
                raise _Error(f"{path}: not a result file of `salpimi scenarios run --out`") from None
            items.append(("saved", saved))
            results.extend(data.get("results", []))
        else:
            items.append(("spec", []))
            specs.append((path, load_spec(path)))
    ran: list[dict[str, Any]] = []
    if specs:
        ran, fresh = _run_specs(args, specs, _policies(args.policy))
        results.extend(fresh)
    per_spec = len(_policies(args.policy)) if specs else 0
    columns: list[dict[str, Any]] = []
    k = 0
    for kind, saved in items:
        if kind == "saved":
            columns.extend(saved)
        else:
            columns.extend(ran[k * per_spec:(k + 1) * per_spec])
            k += 1
    print_table(columns)
    if args.out:
        _write_json(args.out, {"aggregates": columns, "results": results})
    _charts(args, columns, None)
    return 0


def _count(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"{text[:20]!r} is not an integer in {lo}..{hi}")
        return int(text)
    return parse


def _range(text: str) -> tuple[int, int]:
    a, sep, b = text.partition(":")
    if not sep or not (a.isdigit() and b.isdigit()):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not LO:HI (e.g. 1:8)")
    return int(a), int(b)


def cmd_min_staff(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    parse_target(args.target)  # a bad target fails before anything runs
    lo, hi = args.range if args.range is not None else (None, None)
    seeds = _seeds(args, spec)
    out = min_staff(spec, role=args.role, target=args.target, seeds=seeds, lo=lo, hi=hi, policy=args.policy,
                    statistic=args.statistic, run=_runner(args, _store(args, f"{Path(args.spec).stem}-minstaff")))
    for row in sorted(out["evaluated"], key=lambda r: r["count"]):
        value = row["value"]
        shown = "-" if value is None else f"{value:.4g}"
        print(f"  {args.role} = {row['count']:>3}: {out['target'].split()[0]} = {shown}  "
              f"{'meets' if row['met'] else 'misses'} the target")
    lo_hi = out["range"]
    if out["answer"] is None:
        print(f"no count in {lo_hi[0]}..{lo_hi[1]} meets {out['target']} ({out['statistic']} over {len(seeds)} "
              f"seeds); widen --range")
    else:
        print(f"minimum {args.role}: {out['answer']} (target {out['target']}, {out['statistic']} over "
              f"{len(seeds)} seeds; {len(out['evaluated'])} counts simulated of {lo_hi[1] - lo_hi[0] + 1}; "
              f"now {out['current']})")
    if not out["monotone"]:
        print("note: the measure was not monotone in the count over the counts simulated (noise); check with more "
              "seeds")
    if args.out:
        _write_json(args.out, out)
    _charts(args, [row["aggregate"] for row in sorted(out["evaluated"], key=lambda r: r["count"])], out)
    return 0


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except _Error as exc:
            raise SpecError(str(exc), source="scenarios") from None
    return run


def _common(p: argparse.ArgumentParser, *, policy: str = "salpimi") -> None:
    p.add_argument("--seeds", type=_count(1, MAX_SEEDS), default=None,
                   help="how many seeds (default: the spec's `seeds`)")
    p.add_argument("--first-seed", type=_count(0, 2**31 - 1 - MAX_SEEDS), default=0, help="the first seed (default 0)")
    p.add_argument("--policy", default=policy,
                   help="salpimi (the week planner), manual (manual practice), day_by_day (plan each day alone), "
                        "a comma-separated list, or all")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local process pool (default) or Dask distributed")
    p.add_argument("--address", default=None, help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                                                   "(default: a local cluster on 127.0.0.1)")
    p.add_argument("--workers", type=_count(1, 1024), default=None,
                   help="processes at once (default: the cores available)")
    p.add_argument("--store", default=None, help="keep each finished run in this JSON-lines file")
    p.add_argument("--resume", action="store_true",
                   help="reuse the runs already in the store (default .salpimi/scenarios/<spec>.jsonl)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--charts", default=None, help="write PNG and SVG charts into this directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def register(sub: Any) -> None:
    """Add ``scenarios run|compare|min-staff`` to an argparse subparsers object."""
    s = sub.add_parser("scenarios", help="what-if capacity scenarios: simulate weeks, compare, find the staff needed")
    ssub = s.add_subparsers(dest="scenarios_command", required=True, parser_class=type(s))
    r = ssub.add_parser("run", help="simulate a scenario over several seeds and print its KPIs")
    r.add_argument("spec", help="scenario TOML file (see docs/scenarios.md)")
    _common(r)
    r.set_defaults(func=_guard(cmd_run))
    c = ssub.add_parser("compare", help="scenarios (TOML, run now) or saved results (JSON) side by side")
    c.add_argument("items", nargs="+", help="scenario TOML files or result JSON files")
    _common(c)
    c.set_defaults(func=_guard(cmd_compare))
    m = ssub.add_parser("min-staff", help="the smallest head count of a role that meets a KPI target")
    m.add_argument("spec")
    m.add_argument("--role", required=True, choices=[x.value for x in Role])
    m.add_argument("--target", required=True,
                   help=f"'KPI >= value' or 'KPI <= value'; KPIs: {', '.join(KPI_NAMES)}")
    m.add_argument("--range", type=_range, default=None, help="LO:HI head counts to search (default 1:max(n+4, 2n))")
    m.add_argument("--statistic", choices=("mean", "worst"), default="mean",
                   help="judge the mean over seeds (default) or the worst seed")
    _common(m)
    m.set_defaults(func=_guard(cmd_min_staff))
