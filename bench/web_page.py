"""How long the dispatcher web page takes from pressing *sign in* to the day drawn (map idle, timeline, lists),
in Debian's headless Chromium against a real ``salpimi serve --demo``: the Gwanak demo day (planned on a small
deterministic work budget and published) for its dispatcher (laptop) and nurse (phone), and the joint day
(fixtures/problems/joint.json loaded as a team) for its dispatcher.

    python bench/web_page.py [--repeat 5] [--raw bench/results/web_page.jsonl]

Each row records the 1-minute load average; the table goes to bench/results/web_page.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("SALPIMI_CHROMIUM", "/usr/bin/chromium"))
SALPIMI = Path(sys.executable).with_name("salpimi")
READY = "body[data-ready]:not([data-ready='']):not([data-ready='login'])"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env.update(SALPIMI_DATA_DIR=str(data_dir), SALPIMI_MAX_WORKERS="1")
        port = _port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(SALPIMI), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port),
                                      "--log-level", "warning"], cwd=REPO, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.base + "/v1/web/config", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit("salpimi serve did not start; see " + str(data_dir / "serve.log"))
        self.creds: dict[str, dict[str, str]] = json.loads((data_dir / "demo-credentials.json").read_text())

    def api(self, method: str, path: str, user: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "X-API-Key": self.creds[user]["api_key"], "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as res:
            raw = res.read()
        return json.loads(raw) if raw else None

    def plan(self, user: str, team_id: str, day: str, solutions: int) -> str:
        job = self.api("POST", "/v1/plan-jobs", user, {"team_id": team_id, "date": day, "time_limit_s": 120,
                                                       "deterministic": True, "solution_limit": solutions})
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.5)
            job = self.api("GET", f"/v1/plan-jobs/{job['id']}", user)
        assert job["status"] == "succeeded", job
        self.api("POST", f"/v1/plans/{job['plan_id']}/publish", user)
        return str(job["plan_id"])

    def add_user(self, name: str, role: str, team_id: str) -> None:
        password = "pw-" + secrets.token_hex(8)
        out = subprocess.run([str(SALPIMI), "user", "add", name, "--role", role, "--team", team_id, "--password",
                              password, "--api-key", "--data-dir", str(self.data_dir)], cwd=REPO, env=self.env,
                             check=True, capture_output=True, text=True).stdout
        key = re.search(r"API key:\s+(\S+)", out)
        assert key, out
        self.creds[name] = {"password": password, "api_key": key.group(1)}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _sign_in_to_drawn(browser: Any, svc: Service, user: str, day: str, phone: bool) -> float:
    viewport = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 768}
    context = browser.new_context(viewport=viewport, locale="ko-KR", timezone_id="Asia/Seoul", is_mobile=phone)
    try:
        page = context.new_page()
        page.goto(f"{svc.base}/?date={day}")
        page.wait_for_selector("body[data-ready='login']", state="attached")
        page.fill("#username", user)
        page.fill("#password", svc.creds[user]["password"])
        start = time.perf_counter()
        page.click("#login-form button[type=submit]")
        page.wait_for_selector(READY, state="attached", timeout=120_000)
        return time.perf_counter() - start
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--raw", type=Path, default=REPO / "bench" / "results" / "web_page.jsonl")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    day = json.loads((REPO / "fixtures" / "problems" / "gwanak.json").read_text(encoding="utf-8"))["date"]
    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(Path(tmp))
        try:
            gwanak = svc.api("GET", "/v1/teams", "dispatcher")["data"][0]["id"]
            svc.plan("dispatcher", gwanak, day, 30)
            joint = json.loads((REPO / "fixtures" / "problems" / "joint.json").read_text(encoding="utf-8"))
            team = svc.api("POST", "/v1/teams/load?name=joint-bench", "manager", joint)["team"]["id"]
            svc.add_user("jdisp", "dispatcher", team)
            svc.plan("jdisp", team, joint["date"], 5)
            cases = [("gwanak dispatcher (laptop)", "dispatcher", day, False),
                     ("gwanak nurse (phone)", "nurse", day, True),
                     ("joint dispatcher (laptop)", "jdisp", joint["date"], False)]
            rows = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                    "--headless", "--no-sandbox", "--disable-gpu", "--lang=ko-KR"])
                try:
                    for name, user, d, phone in cases:
                        _sign_in_to_drawn(browser, svc, user, d, phone)  # warm: the server's caches, the bundle
                        for k in range(args.repeat):
                            secs = _sign_in_to_drawn(browser, svc, user, d, phone)
                            rows.append({"case": name, "run": k, "seconds": round(secs, 3),
                                         "load1": round(os.getloadavg()[0], 2)})
                            print(json.dumps(rows[-1]), flush=True)
                finally:
                    browser.close()
        finally:
            svc.stop()
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    with args.raw.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    lines = ["| case | runs | sign-in to drawn: median | min-max | load (1 min) |", "|---|---:|---:|---:|---:|"]
    for name, *_ in cases:
        mine = sorted(r["seconds"] for r in rows if r["case"] == name)
        loads = [r["load1"] for r in rows if r["case"] == name]
        lines.append(f"| {name} | {len(mine)} | {mine[len(mine) // 2]:.2f} s | {mine[0]:.2f}-{mine[-1]:.2f} s | "
                     f"{min(loads):.1f}-{max(loads):.1f} |")
    table = "\n".join(lines) + "\n"
    (args.raw.with_suffix(".md")).write_text(
        "# Web page: sign-in to the day drawn\n\n`python bench/web_page.py` (headless Chromium, 2 shared cores).\n\n"
        + table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
