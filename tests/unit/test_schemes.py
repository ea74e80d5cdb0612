"""Schemes as configuration: loading, validation, measurement periods and the jobcoach notice."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shared.schemes import (
    SchemeConfigError,
    all_schemes,
    jobcoach_no_period_notice,
    load_scheme,
    load_scheme_file,
    measurement_period,
    report_due,
)


def test_every_scheme_file_loads() -> None:
    assert set(all_schemes()) == {"bow", "uwv-reintegratie", "uwv-jobcoach", "staff-survey"}


def test_blik_op_werk_has_thirteen_diensten_of_which_dienst_12_is_retired() -> None:
    bow = load_scheme("bow")
    assert len(bow.services) == 13
    assert [s.code for s in bow.services if s.retired] == ["12"]
    assert bow.active_service_codes() == frozenset(str(n) for n in range(1, 14)) - {"12"}


def test_an_unknown_service_code_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        load_scheme("bow").service("14")


def test_uwv_reintegratie_has_four_percelen_with_a_norm_of_seven_each() -> None:
    uwv = load_scheme("uwv-reintegratie")
    assert {s.name for s in uwv.services} == {
        "Werkfit maken",
        "Naar werk",
        "Praktijkassessment",
        "Modulaire Re-integratiediensten",
    }
    assert uwv.norms.per_unit_mean_min == 7.0
    assert uwv.norms.exemption_below_ended_services == 5


def test_jobcoach_norm_is_six_and_a_half_for_werknemer_and_werkgever_each() -> None:
    norms = load_scheme("uwv-jobcoach").norms
    assert norms.per_respondent_type_mean_min == {"werknemer": 6.5, "werkgever": 6.5}


def test_inburgering_clients_get_their_own_questionnaire() -> None:
    bow = load_scheme("bow")
    assert bow.questionnaire_id("client", service_code="11") == "bow-client-inburgering"
    assert bow.questionnaire_id("client", service_code="9") == "bow-client-regular"
    assert bow.questionnaire_id("client", service_code="9", low_threshold=True) == "bow-client-laagdrempelig"
    assert bow.questionnaire_id("opdrachtgever") == "bow-opdrachtgever"


def test_a_config_with_a_typo_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "shared/config/schemes/bow.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "bow.yaml"
    broken.write_text(source.replace("total_mean_min:", "total_mean_minn:"), encoding="utf-8")
    with pytest.raises(SchemeConfigError) as refused:
        load_scheme_file(broken)
    assert str(broken) in str(refused.value)
    assert "total_mean_minn" in str(refused.value)


def test_a_scheme_file_must_be_named_after_its_id(tmp_path: Path) -> None:
    source = (Path(__file__).parents[2] / "shared/config/schemes/bow.yaml").read_text(encoding="utf-8")
    misnamed = tmp_path / "keurmerk.yaml"
    misnamed.write_text(source, encoding="utf-8")
    with pytest.raises(SchemeConfigError, match="differs from the file name"):
        load_scheme_file(misnamed)


def test_calendar_year_schemes_measure_january_to_december() -> None:
    assert measurement_period(load_scheme("bow"), year=2019) == (date(2019, 1, 1), date(2019, 12, 31))


def test_uwv_reintegratie_report_is_due_on_1_march_after_the_period() -> None:
    assert report_due(load_scheme("uwv-reintegratie"), date(2021, 12, 31)) == date(2022, 3, 1)


def test_jobcoach_period_runs_a_year_from_the_recognition_day_and_month() -> None:
    jobcoach = load_scheme("uwv-jobcoach")
    start, end = measurement_period(jobcoach, recognition_date=date(2024, 3, 15))
    assert (start, end) == (date(2024, 3, 15), date(2025, 3, 14))
    assert report_due(jobcoach, end) == date(2025, 4, 14)


def test_jobcoach_period_of_a_later_year_keeps_the_recognition_day_and_month() -> None:
    jobcoach = load_scheme("uwv-jobcoach")
    assert measurement_period(jobcoach, year=2026, recognition_date=date(2024, 3, 15)) == (
        date(2026, 3, 15),
        date(2027, 3, 14),
    )


def test_a_recognition_before_2016_first_measures_from_its_anniversary_in_2016() -> None:
    # Seed 001's example: erkenning 12-5-2013 → meetperiode from 12-05-2016.
    jobcoach = load_scheme("uwv-jobcoach")
    assert measurement_period(jobcoach, recognition_date=date(2013, 5, 12))[0] == date(2016, 5, 12)


def test_a_year_without_an_ended_coaching_period_owes_a_dutch_notice_within_a_month() -> None:
    notice = jobcoach_no_period_notice(
        load_scheme("uwv-jobcoach"),
        recognition_date=date(2020, 3, 15),
        year=2025,
        coaching_periods_ended=[date(2024, 1, 10)],  # before this measurement period
        provider_name="Jobcoach BV",
    )
    assert notice is not None
    assert (notice.period_start, notice.period_end, notice.due) == (
        date(2024, 3, 15),
        date(2025, 3, 14),
        date(2025, 4, 14),
    )
    assert "geen enkele jobcoachperiode is afgerond" in notice.text_nl
    assert "15-03-2024 tot en met 14-03-2025" in notice.text_nl


def test_no_notice_is_owed_when_a_coaching_period_ended_in_the_measurement_period() -> None:
    notice = jobcoach_no_period_notice(
        load_scheme("uwv-jobcoach"),
        recognition_date=date(2020, 3, 15),
        year=2025,
        coaching_periods_ended=[date(2024, 11, 1)],
    )
    assert notice is None


def test_no_notice_is_owed_before_the_first_measurement_period_has_ended() -> None:
    notice = jobcoach_no_period_notice(
        load_scheme("uwv-jobcoach"), recognition_date=date(2025, 3, 15), year=2025, coaching_periods_ended=[]
    )
    assert notice is None


def test_blik_op_werk_publication_refuses_the_seed_providers_eight_of_forty_three() -> None:
    # Seed 000, tabel 1.1: clients 8 of 43 → "nee"; the one opdrachtgever → "ja", always.
    rule = load_scheme("bow").publication
    assert not rule.is_published("client", usable=8, net_sample=43)
    assert rule.is_published("opdrachtgever", usable=1, net_sample=1)
