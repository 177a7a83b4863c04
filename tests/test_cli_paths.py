"""No command deletes or overwrites outside its own folder: network names, --data-dir, plan --out."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from daysupport import REPO, serve_without_listening

from planner.cli import main

TINY_OSM = REPO / "fixtures" / "osm" / "tiny.osm"
TINY_PROBLEM = REPO / "fixtures" / "problems" / "tiny.json"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory like the service's (database, key, audit log), with one network imported."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("salpimi.db", "secret.key", "demo-credentials.json"):
        (data / name).write_text(f"precious {name}\n", encoding="utf-8")
    monkeypatch.setenv("SALPIMI_DATA_DIR", str(data))
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["network", "import", str(TINY_OSM), "--name", "keep"]) == 0
    return data


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (not following links), by relative path."""
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("salpimi"), err
    return err[0]


UNSAFE_NAMES = ["..", ".", "../data", "../../x", "/tmp/x", "a/b", ".hidden", "", "x" * 65, "관악", "a b", "a.b", "_x"]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_network_names_are_refused_and_nothing_is_deleted(
    data: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    before = _snapshot(data.parent)
    for argv in (
        ["network", "import", str(TINY_OSM), "--name", name, "--force"],
        ["network", "fetch", "Gwanak-gu, Seoul", "--name", name, "--force"],
        ["network", "remove", name],
        ["network", "info", name],
    ):
        _one_line_exit_2(capsys, argv)
    assert _snapshot(data.parent) == before
    assert main(["network", "list"]) == 0
    assert capsys.readouterr().out.split() == ["keep"]


def test_force_replaces_only_its_own_network(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["network", "import", str(TINY_OSM), "--name", "other"]) == 0
    others = {k: v for k, v in _snapshot(data).items() if not k.startswith("networks/other/")}
    assert main(["network", "import", str(TINY_OSM), "--name", "other", "--force"]) == 0
    after = _snapshot(data)
    assert {k: v for k, v in after.items() if not k.startswith("networks/other/")} == others
    assert sorted(p.name for p in (data / "networks").iterdir()) == ["keep", "other"]  # no leftovers


def test_a_failed_forced_import_keeps_the_old_network(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><node", encoding="utf-8")
    before = _snapshot(data)
    _one_line_exit_2(capsys, ["network", "import", str(bad), "--name", "keep", "--force"])
    assert _snapshot(data) == before
    assert sorted(p.name for p in (data / "networks").iterdir()) == ["keep"]


def test_force_never_follows_a_link_or_replaces_a_foreign_folder(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "network.json").write_text("{}", encoding="utf-8")
    (outside / "important.txt").write_text("mine", encoding="utf-8")
    (data / "networks" / "linked").symlink_to(outside, target_is_directory=True)
    (data / "networks" / "foreign").mkdir()
    (data / "networks" / "foreign" / "notes.txt").write_text("mine too", encoding="utf-8")
    before = _snapshot(tmp_path)
    for name in ("linked", "foreign"):
        _one_line_exit_2(capsys, ["network", "import", str(TINY_OSM), "--name", name, "--force"])
        _one_line_exit_2(capsys, ["network", "remove", name])
    assert _snapshot(tmp_path) == before


def test_remove_deletes_exactly_one_network(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["network", "import", str(TINY_OSM), "--name", "gone"]) == 0
    before = {k: v for k, v in _snapshot(data).items() if not k.startswith("networks/gone/")}
    assert main(["network", "remove", "gone"]) == 0
    assert _snapshot(data) == before
    err = _one_line_exit_2(capsys, ["network", "remove", "gone"])
    assert "unknown network 'gone'" in err and "keep" in err


def test_fetch_keeps_its_download_inside_the_networks_folder(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from planner.cli import build_parser
    from planner.travel import networks

    seen: list[Path] = []

    def fake_fetch(place: str, path: Path) -> None:
        seen.append(path)
        shutil.copyfile(TINY_OSM, path)

    args = build_parser().parse_args(["network", "fetch", "Gwanak-gu, Seoul"])
    monkeypatch.setattr(networks, "fetch_place_graphml", fake_fetch)
    assert args.func(args) == 0
    assert seen and seen[0].resolve().is_relative_to((data / "networks").resolve())
    assert sorted(p.name for p in (data / "networks").iterdir()) == ["gwanak-gu", "keep"]


def test_data_dir_option_and_environment_name_the_same_folder(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    assert main(["network", "import", str(TINY_OSM), "--name", "there", "--data-dir", str(elsewhere)]) == 0
    assert (elsewhere / "networks" / "there" / "network.json").is_file()
    capsys.readouterr()
    assert main(["network", "list", "--data-dir", str(elsewhere)]) == 0
    assert capsys.readouterr().out.split() == ["there"]
    assert main(["network", "list"]) == 0
    assert capsys.readouterr().out.split() == ["keep"]


def test_serve_finds_networks_imported_under_its_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main as salpimi  # the whole command: the planner's and the service's

    monkeypatch.delenv("SALPIMI_DATA_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "cache"))
    served = serve_without_listening(monkeypatch)
    x = tmp_path / "x"
    assert salpimi(["network", "import", str(TINY_OSM), "--name", "streets", "--data-dir", str(x)]) == 0
    assert salpimi(["serve", "--data-dir", str(x), "--network", "streets", "--port", "8799"]) == 0
    assert served and "travel: road network streets" in capsys.readouterr().out
    assert (x / "salpimi.db").is_file()


def test_plan_out_never_overwrites_the_problem_or_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = tmp_path / "problem.json"
    problem.write_bytes(TINY_PROBLEM.read_bytes())
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "x").write_text("x", encoding="utf-8")
    before = _snapshot(tmp_path)
    fast = ["--deterministic", "--solution-limit", "20", "--time-limit", "30", "--quiet"]
    assert "problem file" in _one_line_exit_2(capsys, ["plan", str(problem), "--out", str(problem), *fast])
    link = tmp_path / "link.json"
    link.symlink_to(problem)
    assert "problem file" in _one_line_exit_2(capsys, ["plan", str(problem), "--out", str(link), *fast])
    link.unlink()
    assert "folder" in _one_line_exit_2(capsys, ["plan", str(problem), "--out", str(folder), *fast])
    _one_line_exit_2(capsys, ["plan", str(problem), "--out", str(tmp_path / "no" / "such" / "p.json"), *fast])
    assert _snapshot(tmp_path) == before
    out = tmp_path / "plan.json"
    out.write_text("old", encoding="utf-8")
    assert main(["plan", str(problem), "--out", str(out), *fast]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["routes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "plan.json", "problem.json"]  # no temp files


def test_service_commands_write_only_their_own_files_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main as salpimi

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SALPIMI_DATA_DIR", raising=False)
    serve_without_listening(monkeypatch)
    data = tmp_path / "data"
    (data / "networks" / "notes").mkdir(parents=True)
    (data / "networks" / "notes" / "mine.txt").write_text("mine", encoding="utf-8")
    (data / "report.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "sibling.txt").write_text("mine", encoding="utf-8")
    before = _snapshot(tmp_path)
    d = ["--data-dir", str(data)]
    for argv in (
        ["db", "upgrade", *d],
        ["load", str(TINY_PROBLEM), "--name", "t", *d],
        ["user", "add", "kim", "--role", "manager", "--api-key", *d],
        ["serve", "--demo", "--fixture", str(TINY_PROBLEM), "--port", "8799", *d],
        ["db", "backup", str(tmp_path / "backup.db"), *d],
        ["db", "restore", str(tmp_path / "backup.db"), "--force", *d],
        ["network", "list", *d],
    ):
        assert salpimi(argv) == 0, argv
    capsys.readouterr()
    assert salpimi(["db", "restore", str(data / "salpimi.db"), "--force", *d]) == 2
    assert "the database itself" in capsys.readouterr().err
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing changed or deleted
    own = ("data/salpimi.db", "data/secret.key", "data/demo-credentials.json", "data/backups/before-restore-",
           "backup.db")
    assert all(k.startswith(own) for k in set(after) - set(before)), sorted(set(after) - set(before))
