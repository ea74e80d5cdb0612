"""Who sees what of the fieldwork status: the bureau every provider, a provider its own rows and
only the study-level lines that reveal no other provider's figures; the ops page asks for a key
first and never holds one."""

from __future__ import annotations

from typing import Any

from services.scoring.fieldwork import status_seen_by
from services.scoring.status_page import key_form, render


def row(provider_id: str, respondent_type: str = "client", *, flagged: bool = False) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "respondent_type": respondent_type,
        "net_sample": 40,
        "usable": 1 if flagged else 15,
        "response_so_far": 0.025 if flagged else 0.375,
        "forecast_usable": 1.5 if flagged else 15.0,
        "forecast_response": 0.0375 if flagged else 0.375,
        "required_usable": 10,
        "required_response": 0.2,
        "status": "at_risk" if flagged else "met",
        "flagged": flagged,
    }


STATUS: dict[str, Any] = {
    "study_id": "kto-2026",
    "scheme_id": "bow",
    "as_of": "2026-05-01T12:00:00+00:00",
    "horizon_days": 42.0,
    "requirement": {"min_usable": 10, "min_response_rate": 0.2, "always_published_for": ["opdrachtgever"]},
    "curve": {"rate_per_day": 0.2, "median_delay_days": 3.5, "study_eventual_response": 0.21},
    "providers": [
        row("goed-werk"),
        row("goed-werk", "opdrachtgever"),
        row("weinig-respons", flagged=True),
    ],
    "flagged": ["weinig-respons"],
}


def test_the_bureau_sees_every_provider_and_the_study_curve() -> None:
    assert status_seen_by(STATUS, None) == STATUS


def test_a_provider_sees_its_own_rows_of_every_respondent_type_only() -> None:
    seen = status_seen_by(STATUS, "goed-werk")
    assert seen is not None
    assert [(p["provider_id"], p["respondent_type"]) for p in seen["providers"]] == [
        ("goed-werk", "client"),
        ("goed-werk", "opdrachtgever"),
    ]
    assert seen["flagged"] == []


def test_a_flagged_provider_sees_its_own_flag_and_no_one_elses() -> None:
    seen = status_seen_by(STATUS, "weinig-respons")
    assert seen is not None and seen["flagged"] == ["weinig-respons"]


def test_a_provider_does_not_see_the_study_curve_pooled_over_every_provider() -> None:
    seen = status_seen_by(STATUS, "goed-werk")
    assert seen is not None and seen["curve"] is None
    assert {k: seen[k] for k in ("study_id", "scheme_id", "requirement")} == {
        "study_id": "kto-2026",
        "scheme_id": "bow",
        "requirement": STATUS["requirement"],
    }


def test_a_provider_without_rows_in_the_study_sees_nothing() -> None:
    assert status_seen_by(STATUS, "elders") is None


def test_the_key_form_posts_the_key_to_its_own_address_and_shows_no_figure() -> None:
    page = key_form("kto-2026")
    assert '<form id="status-key" method="post">' in page  # no action: this address, query kept
    assert 'type="password" name="api_key" autocomplete="off"' in page
    assert 'id="refused"' not in page
    assert 'id="refused"' in key_form("kto-2026", refused=True)


def test_a_providers_page_has_no_curve_action_or_pipeline() -> None:
    seen = status_seen_by(STATUS, "goed-werk")
    assert seen is not None
    page = render(seen)
    assert page.count('class="so-far"') == 2
    assert "median delay" not in page and 'id="extra-wave"' not in page and "Pipeline" not in page
    assert "median delay 3.5 days" in render(STATUS)
