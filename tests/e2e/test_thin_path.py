"""The thin path end to end: real processes, broker, database, SMTP and HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from tevreden.demo import DemoConfig, run_demo

pytestmark = pytest.mark.e2e


def test_a_small_panel_flows_from_delivery_to_reports_with_figures_matching_the_answers(
    tmp_path: Path,
) -> None:
    result = run_demo(
        DemoConfig(output=tmp_path, providers=4, contacts=120, seed=7, reminder_after_seconds=3)
    )
    assert result.mismatches == []
    assert result.reminded_after_answering == 0
    assert len(result.figures) == 4
    assert sum(f.completed for f in result.figures) > 0
    reports = sorted((tmp_path / "reports" / "bow-2026").glob("*.html"))
    assert [r.stem for r in reports] == ["P001", "P002", "P003", "P004"]
