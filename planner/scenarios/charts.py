"""Charts of scenario results for managers (PNG and SVG): coverage within cadence versus staff, overdue days
per tier, weekly coverage over the horizon.  Drawn from the plain result dicts with matplotlib's Agg backend."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CHARTS", "hangul_font", "write_charts"]

#: The charts and the files they become (each as .png and .svg).
CHARTS = {
    "coverage_vs_staff": "share of days within cadence per tier against the head count (min-staff runs)",
    "overdue_days": "per tier, the distribution of households' worst overdue days, one box per scenario",
    "weekly_coverage": "share of household-days within cadence, week by week, per scenario (mean and range)",
}
_TIERS = ("intensive", "regular", "self_care")
_TIER_KO = {"intensive": "집중관리군", "regular": "정기관리군", "self_care": "자기역량지원군"}
_FONTS = ("NanumGothic", "NanumBarunGothic", "NanumSquare", "Noto Sans CJK KR", "Noto Sans KR")


def hangul_font() -> str | None:
    """The name of an installed font that draws Hangul (fonts-nanum, Noto CJK), or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in _FONTS if n in names), None)


def _tier_label(tier: str, korean: bool) -> str:
    english = tier.replace("_", "-")
    return f"{_TIER_KO[tier]} {english}" if korean and tier in _TIER_KO else english


def _label(agg: Mapping[str, Any]) -> str:
    policy = agg.get("policy")
    name = str(agg.get("scenario", "scenario"))
    return f"{name} ({policy})" if policy and policy != "salpimi" else name


def _stat(kpis: Mapping[str, Any], name: str) -> tuple[float, float, float] | None:
    value = kpis.get(name)
    if isinstance(value, Mapping) and value.get("mean") is not None:
        mean = float(value["mean"])
        return mean, float(value.get("min", mean)), float(value.get("max", mean))
    return None


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    # No dates or random ids in the files: the same results give the same bytes.
    fig.savefig(paths[0], dpi=110, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    return paths


def _target_value(target: str) -> float | None:
    """The number of a min-staff target such as ``within_cadence.intensive >= 0.95``, or None."""
    try:
        return float(target.replace("<=", " ").replace(">=", " ").split()[-1])
    except (ValueError, IndexError):
        return None


def _coverage_vs_staff(plt: Any, min_staff: Mapping[str, Any], korean: bool) -> Any:
    rows = sorted((r for r in min_staff.get("evaluated", []) if r.get("aggregate")), key=lambda r: r["count"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    floor = 1.0
    for tier in _TIERS:
        found = [(r["count"], _stat(r["aggregate"].get("kpis", {}), f"within_cadence.{tier}")) for r in rows]
        points = [(c, s) for c, s in found if s is not None]
        if not points:
            continue
        counts = [c for c, _ in points]
        stats = [s for _, s in points]
        floor = min([floor] + [s[1] for s in stats])
        line = ax.plot(counts, [s[0] for s in stats], marker="o", label=_tier_label(tier, korean))
        ax.fill_between(counts, [s[1] for s in stats], [s[2] for s in stats], alpha=0.18,
                        color=line[0].get_color(), linewidth=0)
    goal = _target_value(str(min_staff.get("target", "")))
    if goal is not None and 0 <= goal <= 1 and "within_cadence" in str(min_staff.get("target", "")):
        ax.axhline(goal, color="0.45", linestyle=":", linewidth=1)
        floor = min(floor, goal)
    answer = min_staff.get("answer")
    if answer is not None:
        ax.axvline(answer, color="0.3", linestyle="--", linewidth=1)
        ax.annotate(f"needed: {answer}", (answer, 0.04), xycoords=("data", "axes fraction"), xytext=(4, 0),
                    textcoords="offset points", fontsize=9)
    role = str(min_staff.get("role", "staff")).replace("_", " ")
    ax.set_xlabel(f"{role} (head count)")
    ax.set_ylabel("share of days within cadence")
    bottom = max(0.0, math.floor((floor - 0.02) * 20) / 20)
    ax.set_ylim(bottom, 1.005)
    ax.set_title(f"Coverage within cadence vs staff — target {min_staff.get('target', '')}", fontsize=10)
    _integer_ticks(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _overdue(plt: Any, aggregates: Sequence[Mapping[str, Any]], korean: bool) -> Any:
    tiers = [t for t in _TIERS if any(a.get("overdue_days", {}).get(t) for a in aggregates)] or ["intensive"]
    fig, axes = plt.subplots(1, len(tiers), figsize=(4 * len(tiers) + 0.5, 4), squeeze=False, sharey=True)
    top = 0.0
    for ax, tier in zip(axes[0], tiers, strict=True):
        longest = 0
        for a in aggregates:
            days = sorted(int(d) for d in (a.get("overdue_days", {}).get(tier) or []))
            if not days:
                continue
            # The share of households whose worst overdue spell was longer than d days, for every d.
            xs = list(range(0, max(days) + 2))
            shares = [sum(1 for x in days if x > d) / len(days) for d in xs]
            top = max(top, shares[0])
            longest = max(longest, xs[-1])
            ax.step(xs, shares, where="post", label=_label(a))
        if longest <= 1:
            ax.annotate("nobody overdue", (0.5, 0.5), xycoords="axes fraction", ha="center", color="0.4")
        ax.set_xlim(0, max(longest, 7))
        _integer_ticks(ax)
        ax.set_title(_tier_label(tier, korean), fontsize=10)
        ax.set_xlabel("days overdue (d)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylim(0, min(1.0, max(0.05, top * 1.15)))
    axes[0][0].set_ylabel("share of households overdue more than d days")
    axes[0][-1].legend(fontsize=8, loc="upper right")
    fig.suptitle("Overdue days per tier: each household's worst spell, pooled over seeds", fontsize=10)
    fig.tight_layout()
    return fig


def _weekly(plt: Any, aggregates: Sequence[Mapping[str, Any]], korean: bool) -> Any:
    tiers = [t for t in _TIERS[:2] if any(_stat(w, f"within_cadence.{t}") for a in aggregates
                                          for w in a.get("weekly", []))] or ["intensive"]
    fig, axes = plt.subplots(1, len(tiers), figsize=(5 * len(tiers), 4), squeeze=False, sharey=True)
    for ax, tier in zip(axes[0], tiers, strict=True):
        for a in aggregates:
            found = [(int(w["week"]), _stat(w, f"within_cadence.{tier}")) for w in a.get("weekly", [])]
            points = [(k, s) for k, s in found if s is not None]
            if not points:
                continue
            weeks = [k for k, _ in points]
            stats = [s for _, s in points]
            line = ax.plot(weeks, [s[0] for s in stats], marker=".", label=_label(a))
            ax.fill_between(weeks, [s[1] for s in stats], [s[2] for s in stats], alpha=0.15,
                            color=line[0].get_color(), linewidth=0)
        warmup = max((int(a.get("warmup_weeks") or 0) for a in aggregates), default=0)
        if warmup:
            ax.axvspan(0.5, warmup + 0.5, color="0.9", zorder=0)
        ax.set_title(_tier_label(tier, korean), fontsize=10)
        ax.set_xlabel("week")
        _integer_ticks(ax)
        ax.grid(alpha=0.3)
    lows = [s[1] for a in aggregates for w in a.get("weekly", []) for t in tiers
            for s in [_stat(w, f"within_cadence.{t}")] if s is not None]
    floor = min(lows, default=0.0)
    axes[0][0].set_ylabel("share of household-days within cadence")
    axes[0][0].set_ylim(max(0.0, math.floor((floor - 0.02) * 20) / 20), 1.005)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.suptitle("Weekly coverage within cadence (line: mean over seeds; band: range)", fontsize=10)
    fig.tight_layout()
    return fig


def write_charts(
    aggregates: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    min_staff: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the charts as PNG and SVG into ``out_dir`` (created) and return their paths.

    Parameters
    ----------
    aggregates
        Scenario aggregates (``planner.scenarios.kpis.aggregate``: one per scenario and policy, over seeds):
        the overdue-days and weekly-coverage charts, one box or line per aggregate.  May be empty.
    min_staff
        A min-staff search's result (``planner.scenarios.minstaff.min_staff``): the coverage-versus-staff chart.

    Labels are English; tier names also in Korean when a Hangul font (fonts-nanum) is installed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    font = hangul_font()
    style: Any = {"svg.hashsalt": "salpimi", "font.size": 9}
    if font:
        style["font.family"] = [font, "DejaVu Sans"]
        style["axes.unicode_minus"] = False
    written: list[Path] = []
    with matplotlib.rc_context(style):
        figures: list[tuple[str, Any]] = []
        if min_staff and min_staff.get("evaluated"):
            figures.append(("coverage_vs_staff", lambda: _coverage_vs_staff(plt, min_staff, bool(font))))
        if aggregates:
            figures.append(("overdue_days", lambda: _overdue(plt, aggregates, bool(font))))
            figures.append(("weekly_coverage", lambda: _weekly(plt, aggregates, bool(font))))
        for stem, draw in figures:
            fig = draw()
            try:
                written += _save(fig, out, stem)
            finally:
                plt.close(fig)
    return written
