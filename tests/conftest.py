"""Fixtures for every test: each evaluated plan conforms to the plan schema; ../shared or a skip.
The helpers live in daysupport.py (imported by name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from daysupport import SHARED, assert_plan_conforms


@pytest.fixture(autouse=True)
def _every_evaluated_plan_conforms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plan a test hands to the evaluator also passes the plan JSON Schema and reads back
    equal (tests judge plans through ``evaluate``, so this covers the plans the tests produce)."""
    import importlib

    evaluation = importlib.import_module("planner.evaluate")  # the package's ``evaluate`` is the function
    original = evaluation.evaluate_instance

    def checked(inst: Any, plan: Any) -> Any:
        assert_plan_conforms(plan)
        return original(inst, plan)

    monkeypatch.setattr(evaluation, "evaluate_instance", checked)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}); real-data test skipped")
    return SHARED

