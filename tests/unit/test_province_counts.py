"""Scoring: the invited clients per province (the Blik op Werk summary page), from the counts."""

from __future__ import annotations

from services.scoring.domain import ProvinceKey, count_provinces, province_counts
from shared.events import ProvinceCount


def key(province: str, respondent_type: str = "client", provider_id: str = "p1") -> ProvinceKey:
    return ProvinceKey("s", provider_id, respondent_type, province)


def test_provinces_are_ordered_by_count_then_by_name() -> None:
    counts = count_provinces([key("Zeeland"), key("Utrecht"), key("Limburg"), key("Limburg")])
    assert province_counts(counts, "client") == {
        "p1": [
            {"province": "Limburg", "invited": 2},
            {"province": "Utrecht", "invited": 1},
            {"province": "Zeeland", "invited": 1},
        ]
    }


def test_only_the_headline_group_counts_and_without_one_everyone_does() -> None:
    counts = count_provinces([key("Utrecht"), key("Drenthe", "opdrachtgever")])
    assert province_counts(counts, "client") == {"p1": [{"province": "Utrecht", "invited": 1}]}
    assert [p["province"] for p in province_counts(counts, None)["p1"]] == ["Drenthe", "Utrecht"]


def test_each_provider_gets_its_own_provinces_and_each_row_is_a_province_count() -> None:
    found = province_counts(count_provinces([key("Utrecht"), key("Groningen", provider_id="p2")]), "client")
    assert set(found) == {"p1", "p2"}
    assert ProvinceCount.model_validate(found["p2"][0]).province == "Groningen"
