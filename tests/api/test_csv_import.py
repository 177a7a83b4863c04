"""CSV import of households and workers: row-level errors, and nothing imported on any error."""

from __future__ import annotations

from typing import Any

import apisupport
from apisupport import World, assert_problem

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _upload(world: World, what: str, text: str, *, encoding: str = "utf-8", who: str = "dispatcher_a") -> Any:
    return world.post(f"/v1/teams/{world.team_a}/{what}/import", who,
                      files={"file": (f"{what}.csv", text.encode(encoding), "text/csv")})


def _count(world: World, what: str) -> int:
    return int(world.get(f"/v1/teams/{world.team_a}/{what}", "dispatcher_a").json()["count"])


HOUSEHOLDS = (
    "ref,dong,lat,lon,last_contact,languages,availability,preferred_worker,label,contact,"
    "health_notes,age_band,sex,basic_livelihood,alcohol,housing,social_contact\n"
    "csv-1,신림동,37.4841,126.9297,2026-10-02,ko,mon 09:00-12:00; tue 14:00-17:00,t-nurse,"
    "가구-1,010-0000-0001,당뇨,50-64,M,O,X,goshiwon,none\n"
    "csv-2,난곡동,37.4700,126.9200,,ko;en,,,가구-2,,,75+,F,no,no,apartment,weekly\n"
)


def test_households_import_and_reimport_updates_by_ref(world: World) -> None:
    before = _count(world, "households")
    r = _upload(world, "households", HOUSEHOLDS)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2 and r.json()["updated"] == 0
    assert _count(world, "households") == before + 2
    first = r.json()["ids"][0]
    planning = world.get(f"/v1/households/{first}", "dispatcher_a").json()
    assert planning["availability"] == {"mon": [["09:00", "12:00"]], "tue": [["14:00", "17:00"]]}
    assert planning["preferred_worker_id"] == world.workers_a["t-nurse"]
    assert "contact" not in planning and "health_notes" not in planning
    assert planning["risk_tier"] in ("intensive", "regular")
    private = world.get(f"/v1/households/{first}/private", "dispatcher_a").json()
    assert private["contact"] == "010-0000-0001" and private["basic_livelihood"] is True
    assert private["alcohol"] is False and private["housing"] == "goshiwon"

    again = _upload(world, "households", "ref,dong,lat,lon\ncsv-1,서림동,37.4842,126.9298\n")
    assert again.status_code == 200, again.text
    assert again.json() == {"created": 0, "updated": 1, "ids": [first]}
    assert world.get(f"/v1/households/{first}", "dispatcher_a").json()["dong"] == "서림동"
    kept = world.get(f"/v1/households/{first}/private", "dispatcher_a").json()
    assert kept["contact"] == "010-0000-0001"  # empty or absent cells keep the stored value


def test_any_bad_row_imports_nothing_and_names_row_and_field(world: World) -> None:
    before = _count(world, "households")
    text = (
        "ref,lat,lon,availability,preferred_worker,sex,basic_livelihood\n"
        "ok-1,37.48,126.95,,,M,yes\n"          # row 2 fine
        "bad-2,137.48,126.95,,,M,yes\n"        # row 3 latitude out of range
        "bad-3,37.48,126.95,someday 09:00-10:00,,M,yes\n"  # row 4 weekday
        "ok-1,37.48,126.95,,,M,yes\n"          # row 5 duplicate ref
        "bad-5,37.48,east,,nobody,Z,maybe\n"   # row 6 several problems
    )
    r = _upload(world, "households", text)
    body = assert_problem(r, 422)
    got = {(e["row"], e["field"]) for e in body["errors"]}
    assert (3, "lat") in got
    assert (4, "availability") in got
    assert (5, "ref") in got
    assert {(6, "lon"), (6, "preferred_worker"), (6, "basic_livelihood")} <= got
    assert not any(row == 2 for row, _ in got)
    assert "nothing was imported" in body["detail"]
    assert _count(world, "households") == before


def test_header_problems_are_row_1(world: World) -> None:
    body = assert_problem(_upload(world, "households", "ref,lat,shoe_size\nx,37.4,3\n"), 422)
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(1, "shoe_size"), (1, "lon")}


def test_korean_excel_cp949_files_are_read(world: World) -> None:
    r = _upload(world, "households", "ref,dong,lat,lon,label\ncp-1,은천동,37.48,126.94,은천-1\n", encoding="cp949")
    assert r.status_code == 200, r.text
    hid = r.json()["ids"][0]
    assert world.get(f"/v1/households/{hid}", "dispatcher_a").json()["dong"] == "은천동"


def test_workers_import_all_or_nothing(world: World) -> None:
    before = _count(world, "workers")
    good = (
        "ref,name,role,skills,start_lat,start_lon,shift_start,shift_end,break_start,break_end,break_s,travel_mode\n"
        "w-csv-1,간호사 C,visiting_nurse,nursing;dementia_care,37.4784,126.9516,09:00,18:00,12:00,13:00,3600,walk\n"
        "w-csv-2,상담차량,mobile_unit,counselling,37.4784,126.9516,10:00,17:00,none,none,0,drive\n"
    )
    r = _upload(world, "workers", good)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    assert _count(world, "workers") == before + 2
    bad = (
        "ref,role,start_lat,start_lon,shift_start,shift_end\n"
        "w-csv-3,visiting_nurse,37.4784,126.9516,09:00,18:00\n"
        "w-csv-4,astronaut,37.4784,126.9516,09:00,18:00\n"
        "w-csv-5,case_manager,37.4784,126.9516,18:00,09:00\n"
    )
    body = assert_problem(_upload(world, "workers", bad), 422)
    got = {(e["row"], e["field"]) for e in body["errors"]}
    assert (3, "role") in got
    assert any(row == 4 for row, _ in got)
    assert _count(world, "workers") == before + 2


def test_only_the_teams_dispatchers_import(world: World) -> None:
    assert_problem(_upload(world, "households", HOUSEHOLDS, who="dispatcher_b"), 403)
    assert_problem(_upload(world, "households", HOUSEHOLDS, who="manager"), 403)
