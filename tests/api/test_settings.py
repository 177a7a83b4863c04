"""Service settings: every field from the environment, errors naming the field and never the value, one table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from api.config import Settings, env_name, settings_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"

#: A valid value other than the default for each field, as text in the environment and as read.
CHANGED: dict[str, tuple[str, Any]] = {
    "data_dir": ("/srv/salpimi", Path("/srv/salpimi")),
    "database_url": ("postgresql://u@db.example:5432/salpimi", "postgresql://u@db.example:5432/salpimi"),
    "max_workers": ("4", 4),
    "max_body_bytes": ("2048", 2048),
    "max_csv_bytes": ("1000", 1000),
    "secret_key": ("k" * 32, "k" * 32),
    "token_ttl_s": ("60", 60),
    "api_key_ttl_days": ("30", 30),
    "signin_window_s": ("60", 60),
    "signin_account_failures": ("3", 3),
    "signin_address_failures": ("7", 7),
    "auto_migrate": ("false", False),
    "max_time_limit_s": ("30", 30),
    "job_grace_s": ("2.5", 2.5),
    "risk_toml": ("/etc/salpimi/risk.toml", Path("/etc/salpimi/risk.toml")),
    "network": ("gwanak", "gwanak"),
    "public_base_url": ("https://salpimi.example.go.kr", "https://salpimi.example.go.kr"),
    "threads": ("8", 8),
    "max_in_flight": ("6", 6),
    "queue_timeout_s": ("0.5", 0.5),
    "max_queued": ("10", 10),
    "queue_target_s": ("0.05", 0.05),
    "db_pool_size": ("20", 20),
    "db_max_overflow": ("0", 0),
    "db_pool_timeout_s": ("3", 3.0),
    "solver_nice": ("0", 0),
    "web_dir": ("/srv/salpimi/web", Path("/srv/salpimi/web")),
    "tile_url": ("https://tiles.example.go.kr/{z}/{x}/{y}.png", "https://tiles.example.go.kr/{z}/{x}/{y}.png"),
    "tile_attribution": ("© OpenStreetMap contributors", "© OpenStreetMap contributors"),
}


def test_the_documented_table_is_the_settings_model() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings table: begin -->\n(.*?)<!-- settings table: end -->", text, re.S)
    assert found, "docs/api.md lost its settings table markers"
    assert found.group(1) == settings_table(), "docs/api.md: paste api.config.settings_table() between the markers"


def test_every_field_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(CHANGED) == set(Settings.model_fields), "a new setting needs a line here"
    environ = {env_name(name): text for name, (text, _value) in CHANGED.items()}
    assert environ["DATABASE_URL"] and all(k.startswith("SALPIMI_") for k in environ if k != "DATABASE_URL")
    from_mapping = Settings.from_env(environ)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    from_process = Settings()
    for name, (_text, value) in CHANGED.items():
        assert getattr(from_mapping, name) == value, name
        assert getattr(from_process, name) == value, name
        assert Settings.model_fields[name].default != value, f"{name}: pick a value other than the default"
    # keyword arguments (the CLI's flags) win over the environment; None leaves it
    assert Settings.from_env(threads=3, network=None).threads == 3
    assert Settings.from_env(network=None).network == "gwanak"


def test_an_explicit_environment_is_the_only_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALPIMI_THREADS", "7")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    s = Settings.from_env({})
    assert (s.threads, s.database_url, s.data_dir) == (40, None, Path("data"))
    assert Settings.from_env({"SALPIMI_THREADS": ""}).threads == 40  # empty means unset


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError):
        s.threads = 3
    assert s.with_(threads=3).threads == 3 and s.threads == 40
    with pytest.raises(ValueError, match="threads: must be at least 1"):
        s.with_(threads=0)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SALPIMI_MAX_WORKERS": "many-hunter2"}, r"^max_workers \(SALPIMI_MAX_WORKERS\): expected an integer$"),
        ({"SALPIMI_QUEUE_TIMEOUT_S": "soon-hunter2"}, r"^queue_timeout_s \(SALPIMI_QUEUE_TIMEOUT_S\): expected a number$"),
        ({"SALPIMI_AUTO_MIGRATE": "hunter2"}, r"^auto_migrate \(SALPIMI_AUTO_MIGRATE\): expected true or false$"),
        ({"SALPIMI_SOLVER_NICE": "20", "SALPIMI_SECRET_KEY": "hunter2"}, r"^solver_nice: must lie in 0\.\.19, got 20$"),
        ({"SALPIMI_PUBLIC_BASE_URL": "https://hunter2.example/?q"}, r"^public_base_url: expected http\(s\)://"),
        ({"SALPIMI_MAX_IN_FLIGHT": "50", "SALPIMI_DB_POOL_SIZE": "4"}, r"^db_pool_size: 4 \+ 8 overflow"),
    ],
)
def test_errors_are_one_line_naming_the_field_never_the_value(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        Settings.from_env(environ)
    message = str(caught.value)
    assert re.search(expected, message), message
    assert "\n" not in message and "hunter2" not in message


def test_a_direct_construction_fails_the_same_way() -> None:
    with pytest.raises(ValueError) as caught:
        Settings(max_workers="x", secret_key="hunter2")
    assert str(caught.value) == "max_workers (SALPIMI_MAX_WORKERS): expected an integer"
    with pytest.raises(ValueError, match=r"^no_such_setting: Extra inputs are not permitted$"):
        Settings(no_such_setting=1)


def test_the_cli_refuses_a_bad_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SALPIMI_DB_POOL_TIMEOUT_S", "forever-hunter2")
    assert main(["db", "upgrade", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "salpimi: db_pool_timeout_s (SALPIMI_DB_POOL_TIMEOUT_S): expected a number\n"
