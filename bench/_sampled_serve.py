"""``salpimi serve`` with a sampling profiler of every thread (py-spy's idea, in-process, no extra package).

    SALPIMI_PROFILE_OUT=/tmp/prof.txt python bench/_sampled_serve.py serve --host 127.0.0.1 --port 8000

A daemon thread takes ``sys._current_frames()`` every ``SALPIMI_PROFILE_INTERVAL_S`` (default 0.005 s) and counts,
per thread kind (the event loop, worker threads), each function seen on a stack (inclusive) and at the top of it
(exclusive).  Samples start when the file ``SALPIMI_PROFILE_OUT + ".on"`` exists and stop when it is removed, so the
bench measures one phase only; the report is written on exit (SIGTERM).  Idle threads (waiting on a lock, a
selector or a queue) are counted apart, so the table shows where the CPU goes.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Functions at the top of a stack whose thread is blocked (a lock, a queue, a selector, uvloop's C loop).
_IDLE = frozenset({"wait", "select", "poll", "acquire", "sleep", "run_forever", "run_until_complete", "run", "get",
                   "accept", "recv", "recv_into", "readinto", "_wait_for_tstate_lock"})
OUT = Path(os.environ.get("SALPIMI_PROFILE_OUT", "/tmp/salpimi-profile.txt"))
INTERVAL = float(os.environ.get("SALPIMI_PROFILE_INTERVAL_S", "0.005"))
incl: Counter[str] = Counter()
excl: Counter[str] = Counter()
busy_samples: Counter[str] = Counter()
samples = 0


def _name(code: object) -> str:
    filename = getattr(code, "co_filename", "?")
    short = filename.split("site-packages/")[-1].replace(str(REPO) + "/", "")
    return f"{getattr(code, 'co_name', '?')} ({short}:{getattr(code, 'co_firstlineno', 0)})"


def _sample(main_id: int, me: int) -> None:
    global samples
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        kind = "loop" if ident == main_id else ("worker" if "AnyIO" in names.get(ident, "") else "other")
        if frame.f_code.co_name in _IDLE:
            continue  # blocked in a wait, a selector or the event loop's C core
        busy_samples[kind] += 1
        excl[f"[{kind}] {_name(frame.f_code)}"] += 1
        seen = set()
        f = frame
        while f is not None:
            n = f"[{kind}] {_name(f.f_code)}"
            if n not in seen:
                incl[n] += 1
                seen.add(n)
            f = f.f_back
    samples += 1


def _run(main_id: int) -> None:
    me = threading.get_ident()
    flag = Path(str(OUT) + ".on")
    while True:
        if flag.exists():
            _sample(main_id, me)
        time.sleep(INTERVAL)


def _report() -> None:
    lines = [f"{samples} samples every {INTERVAL * 1000:.1f} ms; busy samples per thread kind: {dict(busy_samples)}",
             "", "inclusive (function on a busy stack):"]
    lines += [f"{n:7d}  {name}" for name, n in incl.most_common(80)]
    lines += ["", "exclusive (top of a busy stack):"]
    lines += [f"{n:7d}  {name}" for name, n in excl.most_common(60)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    if os.environ.get("SALPIMI_PROFILE_SWITCH_S"):  # experiment: the GIL's switch interval
        sys.setswitchinterval(float(os.environ["SALPIMI_PROFILE_SWITCH_S"]))
    threading.Thread(target=_run, args=(threading.get_ident(),), daemon=True, name="sampler").start()
    atexit.register(_report)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from api.cli import main as cli

    raise SystemExit(cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
