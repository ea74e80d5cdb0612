"""Scoring domain: invertible unit aggregates and the figures every report needs, from raw facts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain import (
    INVITED,
    RESPONDENTS,
    KeptResponse,
    ProviderKey,
    ResponseLedger,
    StudyFigures,
    UnitKey,
    UnitTally,
    aggregate,
    figure_differences,
    find_questionnaire,
    response_tally,
    study_snapshots,
    tally_differences,
    undeliverable_tally,
    units_by_provider,
)
from services.scoring.service import kept, responses_from_lines, snapshot_message, unit_of
from shared.events import (
    AnswerValue,
    Event,
    InvitationIssued,
    InvitationUndeliverable,
    ResponseSubmitted,
    ScoresUpdatedPayload,
    UnitFigures,
    parse_event,
)
from shared.schemes import Scheme, load_scheme
from tests.seeds import Panel, bow_client_answers, checked, seed_000_events, seed_001_events

NOW = datetime(2020, 2, 21, 9, 0, tzinfo=UTC)
A = UnitKey("kto-2019", "pluswerk", "9", "client")
B = UnitKey("kto-2019", "werkfit", "9", "client")
BOW = load_scheme("bow")
REGULAR = find_questionnaire("bow-client-regular", 1)


def fold(events: Sequence[Event]) -> dict[UnitKey, UnitTally]:
    """The facts' contributions, summed (each event once, invitations before their bounces)."""
    facts: list[tuple[UnitKey, UnitTally]] = []
    for e in events:
        if isinstance(e, InvitationIssued | InvitationUndeliverable):
            p = e.payload
            key = UnitKey(p.study_id, p.provider_id, p.service_code, p.respondent_type)
            facts.append((key, INVITED if isinstance(e, InvitationIssued) else undeliverable_tally(True)))
        elif isinstance(e, ResponseSubmitted):
            facts.append((unit_of(e.payload), kept(e.payload).tally()))
    return aggregate(facts)


def snapshot(
    events: Sequence[Event], scheme: Scheme | None = BOW, provider: str = "pluswerk"
) -> ScoresUpdatedPayload:
    units = fold(events)
    study = next(iter(units)).study_id
    return study_snapshots(study, scheme, units, NOW)[ProviderKey(study, provider)]


def unit(s: ScoresUpdatedPayload, respondent_type: str, service: str | None = "9") -> UnitFigures:
    group = s.units if service is not None else s.totals
    [found] = [u for u in group if u.respondent_type == respondent_type and u.service_code == service]
    return found


def client_tally(grade: int, **answers: AnswerValue) -> UnitTally:
    return response_tally(REGULAR, True, {**bow_client_answers(grade), **answers})


# --- aggregates -------------------------------------------------------------------------


def test_a_batch_is_summed_per_unit_and_into_the_benchmark() -> None:
    totals = aggregate([(A, INVITED), (B, INVITED), (A, INVITED)])

    assert totals == {
        A: UnitTally(invited=2),
        B: UnitTally(invited=1),
        A.in_benchmark(): UnitTally(invited=3),
    }


def test_an_empty_batch_changes_nothing() -> None:
    assert aggregate([]) == {}


def test_an_undeliverable_invitation_leaves_the_net_sample() -> None:
    [tally, _] = aggregate([(A, INVITED), (A, INVITED), (A, undeliverable_tally(True))]).values()
    assert (tally.invited, tally.net_sample) == (2, 1)


def test_a_bounce_before_its_invitation_counts_invited_and_undeliverable_at_once() -> None:
    assert undeliverable_tally(False) == UnitTally(invited=1, undeliverable=1)
    assert undeliverable_tally(False).net_sample == 0


def test_an_unusable_response_counts_only_as_partial() -> None:
    assert response_tally(REGULAR, False, {"grade": 9, "recommended": "ja"}) == UnitTally(partial=1)


def test_a_usable_response_counts_its_exact_grade_promoter_class_and_answers() -> None:
    tally = client_tally(8, recommended="afgeraden")

    assert (tally.usable, tally.grades, tally.detractors) == (1, {Decimal(8): 1}, 1)
    assert tally.answers["aspect_attention"] == {"tevreden": 1}
    assert tally.question_types["aspect_attention"] == "satisfaction5"


def test_the_grade_is_kept_apart_from_the_frequency_tables() -> None:
    assert "grade" not in client_tally(8).answers


def test_free_text_and_other_texts_are_never_counted() -> None:
    tally = client_tally(8, reason="anders", **{"reason.other": "Mijn buurman Piet"})

    assert "remarks" not in tally.answers and "reason.other" not in tally.answers
    assert tally.answers["reason"] == {"anders": 1}


def test_a_multiple_choice_counts_each_option_and_its_respondent_once() -> None:
    tally = client_tally(8, contact_ways=["persoonlijk", "email", "app"])

    assert tally.answers["contact_ways"] == {RESPONDENTS: 1, "persoonlijk": 1, "email": 1, "app": 1}


def test_a_ranking_counts_each_item_at_its_place() -> None:
    staff = find_questionnaire("staff-survey", 1)
    order = [
        "plaatsen",
        "duurzame_participatie",
        "nodige_dienstverlening",
        "wet_regelgeving",
        "onafhankelijk_uitkering",
    ]
    tally = response_tally(staff, True, {"organisation": "sw_organisatie", "goals_ranking": order})

    assert tally.answers["goals_ranking"]["plaatsen@1"] == 1
    assert tally.answers["goals_ranking"]["onafhankelijk_uitkering@5"] == 1


def test_matrix_statements_are_counted_as_questions_of_their_own() -> None:
    staff = find_questionnaire("staff-survey", 1)
    tally = response_tally(
        staff, True, {"current_statements.maatwerk": 4, "current_statements.ruimte_beslissingen": 5}
    )

    assert tally.answers == {
        "current_statements.maatwerk": {"4": 1},
        "current_statements.ruimte_beslissingen": {"5": 1},
    }
    assert tally.question_types["current_statements.maatwerk"] == "likert_matrix"


def test_an_unknown_questionnaire_counts_only_the_grade() -> None:
    tally = KeptResponse(A, "no-such-questionnaire", 1, True, {"grade": 7, "recommended": "ja"}).tally()

    assert tally == UnitTally(usable=1, grades={Decimal(7): 1})


def test_an_answer_that_is_no_number_is_no_grade() -> None:
    assert response_tally(None, True, {"grade": "geen cijfer"}).grades == {}


def test_a_decimal_grade_is_kept_exactly() -> None:
    assert response_tally(None, True, {"grade": 7.3}).grades == {Decimal("7.3"): 1}


def test_a_unit_whose_every_fact_was_taken_off_again_is_zero() -> None:
    tally = client_tally(8)

    assert (tally - tally).is_zero()


tallies = st.builds(
    lambda grade, attention, recommended, usable: response_tally(
        REGULAR, usable, bow_client_answers(grade, attention, recommended)
    ),
    st.integers(1, 10),
    st.sampled_from(["zeer_tevreden", "tevreden", "ontevreden", "zeer_ontevreden", "geen_mening"]),
    st.sampled_from(["ja", "nee_zou_wel", "nee_zou_niet", "afgeraden"]),
    st.booleans(),
)


@given(st.lists(tallies, max_size=12), st.randoms())
def test_any_order_of_the_same_facts_gives_the_same_aggregate(facts: list[UnitTally], rnd: object) -> None:
    shuffled = list(facts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert aggregate((A, t) for t in facts) == aggregate((A, t) for t in shuffled)


@given(st.lists(tallies, max_size=12), st.lists(tallies, max_size=6))
def test_a_withdrawn_response_is_subtracted_exactly(
    kept_facts: list[UnitTally], withdrawn: list[UnitTally]
) -> None:
    everything = aggregate((A, t) for t in kept_facts + withdrawn)
    for key, change in aggregate((A, -t) for t in withdrawn).items():
        everything[key].add(change)
    assert tally_differences(aggregate((A, t) for t in kept_facts), everything) == []


# --- seed 000: tabel 1.1 and the front page -----------------------------------------------


def test_seed_000_clients_net_sample_43_usable_8_response_18_6_mean_8_5_not_published() -> None:
    clients = unit(snapshot(seed_000_events(Panel("kto-2019"))), "client")

    assert (clients.net_sample, clients.completed) == (43, 8)
    assert round(100 * clients.response_rate, 1) == 18.6  # type: ignore[operator]
    assert clients.grade.mean == 8.5
    assert clients.published is False


def test_seed_000_the_one_opdrachtgever_is_100_percent_7_5_and_always_published() -> None:
    buyers = unit(snapshot(seed_000_events(Panel("kto-2019"))), "opdrachtgever")

    assert (buyers.net_sample, buyers.completed, buyers.response_rate) == (1, 1, 1.0)
    assert (buyers.grade.mean, buyers.published) == (7.5, True)


def test_seed_000_the_top_level_is_the_clients_total() -> None:
    s = snapshot(seed_000_events(Panel("kto-2019")))

    assert (s.headline, s.net_sample, s.completed, s.mean_grade, s.grade_sum) == ("client", 43, 8, 8.5, 68.0)


def test_seed_000_satisfaction_with_attention_is_38_50_0_13_0() -> None:
    clients = unit(snapshot(seed_000_events(Panel("kto-2019"))), "client")

    [attention] = [s for s in clients.satisfaction if s.question_id == "aspect_attention"]
    assert attention.percentages == {
        "zeer_tevreden": 38.0,
        "tevreden": 50.0,
        "ontevreden": 0.0,
        "zeer_ontevreden": 13.0,
        "geen_mening": 0.0,
    }


def test_seed_000_promoter_score_is_37_5() -> None:
    clients = unit(snapshot(seed_000_events(Panel("kto-2019"))), "client")

    assert (clients.promoter.promoters, clients.promoter.detractors, clients.promoter.score) == (4, 1, 37.5)


def test_seed_000_the_bow_norm_is_met_on_the_clients_grades() -> None:
    [norm] = snapshot(seed_000_events(Panel("kto-2019"))).norms

    assert (norm.rule, norm.respondent_types, norm.verdict) == ("per_unit", ("client",), "met")


def test_seed_000_the_one_unfinished_questionnaire_is_a_partial_in_the_dispositions() -> None:
    d = unit(snapshot(seed_000_events(Panel("kto-2019"))), "client").dispositions

    assert (d.complete, d.partial, d.refusal, d.non_contact) == (8, 1, 0, 0)
    assert (d.rr1, d.rr2, d.coop1) == pytest.approx((8 / 9, 1.0, 8 / 9))


# --- seed 001: jobcoach ---------------------------------------------------------------------


def test_seed_001_werknemers_average_7_2_and_werkgevers_7_1() -> None:
    s = snapshot(
        seed_001_events(Panel("jc-2017", "uwv-jobcoach")), load_scheme("uwv-jobcoach"), "jobcoach-noord"
    )

    assert unit(s, "werknemer", None).grade.mean == pytest.approx(7.2)
    assert unit(s, "werkgever", None).grade.mean == pytest.approx(7.1)


def test_seed_001_the_jobcoach_norm_is_met_for_both_sides() -> None:
    s = snapshot(
        seed_001_events(Panel("jc-2017", "uwv-jobcoach")), load_scheme("uwv-jobcoach"), "jobcoach-noord"
    )

    assert [(n.rule, n.verdict) for n in s.norms] == [("per_respondent_type", "met")]


def test_the_top_level_holds_every_respondent_when_the_scheme_asks_no_clients() -> None:
    s = snapshot(
        seed_001_events(Panel("jc-2017", "uwv-jobcoach")), load_scheme("uwv-jobcoach"), "jobcoach-noord"
    )

    assert (s.headline, s.completed, s.mean_grade) == (None, 10, pytest.approx(7.15))


def test_seed_001_each_answer_is_counted_per_question() -> None:
    s = snapshot(
        seed_001_events(Panel("jc-2017", "uwv-jobcoach")), load_scheme("uwv-jobcoach"), "jobcoach-noord"
    )

    [reachability] = [q for q in unit(s, "werknemer", None).questions if q.question_id == "reachability"]
    assert (reachability.question_type, reachability.n, reachability.counts) == (
        "yes_partly_no",
        5,
        {"niet_helemaal": 5},
    )


# --- edge cases -------------------------------------------------------------------------------


def test_a_unit_without_responses_has_a_net_sample_but_no_grade_figures() -> None:
    panel = Panel("kto-2019")
    clients = unit(snapshot([panel.invite("pluswerk") for _ in range(3)]), "client")

    assert (clients.net_sample, clients.completed, clients.response_rate) == (3, 0, 0.0)
    assert (clients.grade.n, clients.grade.mean, clients.grade.std_dev, clients.promoter.score) == (
        0,
        None,
        None,
        None,
    )


def test_one_respondent_has_a_mean_but_no_spread_or_interval() -> None:
    panel = Panel("kto-2019")
    invitation = panel.invite("pluswerk")
    grade = unit(snapshot([invitation, panel.answer(invitation, bow_client_answers(6))]), "client").grade

    assert (grade.n, grade.mean, grade.std_dev, grade.ci95) == (1, 6.0, None, None)


def test_all_failing_grades_miss_the_bow_norm_even_with_the_corrected_mean() -> None:
    panel = Panel("kto-2019")
    invitations = [panel.invite("pluswerk") for _ in range(3)]
    s = snapshot(
        [
            *invitations,
            *(panel.answer(i, bow_client_answers(g)) for i, g in zip(invitations, (1, 2, 5), strict=True)),
        ]
    )

    [norm] = s.norms
    assert (norm.verdict, norm.used_corrected_mean, norm.failing_units) == ("missed", True, ("9",))
    assert unit(s, "client").grade.corrected_mean == 5.0


def test_a_single_1_does_not_sink_a_small_provider_thanks_to_the_corrected_mean() -> None:
    panel = Panel("kto-2019")
    invitations = [panel.invite("pluswerk") for _ in range(4)]
    s = snapshot(
        [
            *invitations,
            *(panel.answer(i, bow_client_answers(g)) for i, g in zip(invitations, (1, 7, 7, 7), strict=True)),
        ]
    )

    [norm] = s.norms
    assert (norm.verdict, norm.used_corrected_mean) == ("met", True)


def test_decimal_grades_keep_their_exact_mean_and_round_half_up_in_the_distribution() -> None:
    panel = Panel("kto-2019")
    buyers = [
        panel.invite("pluswerk", respondent_type="opdrachtgever", questionnaire_id="bow-opdrachtgever")
        for _ in range(2)
    ]
    answers = [
        checked(
            "bow-opdrachtgever",
            {"grade": g, "recommended": "ja", "services_bought": ["9"], "persons_9": 1, "complaint": "nee"},
        )
        for g in (7.4, 7.5)
    ]
    grade = unit(
        snapshot([*buyers, *(panel.answer(b, a) for b, a in zip(buyers, answers, strict=True))]),
        "opdrachtgever",
    ).grade

    assert grade.mean == pytest.approx(7.45)
    assert (grade.distribution[7], grade.distribution[8]) == (1, 1)


def test_routing_gives_each_question_its_own_n() -> None:
    panel = Panel("kto-2019")
    invitations = [panel.invite("pluswerk") for _ in range(3)]
    answers = [
        bow_client_answers(8),  # asked (verplicht) and threatened: no sanction
        checked(
            "bow-client-regular",
            {**bow_client_answers(8), "sanction_threat": "ja", "sanction_imposed": "nee"},
        ),
        checked(
            "bow-client-regular",
            {**bow_client_answers(8), "reason": "eigen_initiatief", "sanction_threat": None},
        ),
    ]
    s = snapshot([*invitations, *(panel.answer(i, a) for i, a in zip(invitations, answers, strict=True))])

    n = {q.question_id: q.n for q in unit(s, "client").questions}
    assert (n["reason"], n["sanction_threat"], n["sanction_imposed"]) == (3, 2, 1)


def test_a_group_below_the_disclosure_minimum_is_marked_not_disclosable() -> None:
    s = snapshot(seed_000_events(Panel("kto-2019")))

    assert unit(s, "client").disclosable
    assert unit(s, "opdrachtgever").disclosable  # BoW shows opdrachtgevers from 1
    few = [Panel("kto-2019").invite("pluswerk") for _ in range(4)]
    tiny = snapshot([*few, *(Panel.answer(i, bow_client_answers(8)) for i in few)])
    assert not unit(tiny, "client").disclosable


def test_a_study_without_a_scheme_has_no_norms_and_no_publication() -> None:
    s = snapshot(seed_000_events(Panel("kto-2019", None)), None)

    assert (s.scheme_id, s.norms, unit(s, "client").published) == (None, (), None)


def test_a_uwv_perceel_below_seven_with_few_ended_services_may_ask_an_exemption() -> None:
    panel = Panel("uwv-2021", "uwv-reintegratie")
    invitations = [
        panel.invite("reintegro", "naar-werk", questionnaire_id="uwv-reintegratie-client") for _ in range(3)
    ]
    events = [*invitations, *(panel.answer(i, {"grade": 6}) for i in invitations)]
    [norm] = snapshot(events, load_scheme("uwv-reintegratie"), "reintegro").norms

    assert (norm.verdict, norm.failing_units, norm.exemption_possible_for) == (
        "exemption_possible",
        ("naar-werk",),
        ("naar-werk",),
    )


def test_the_benchmark_holds_every_provider_in_the_study() -> None:
    panel = Panel("kto-2019")
    mine, theirs = panel.invite("pluswerk"), panel.invite("werkfit")
    events = [
        mine,
        theirs,
        panel.answer(mine, bow_client_answers(8)),
        panel.answer(theirs, bow_client_answers(6)),
    ]
    s = snapshot(events)

    bench = next(b for b in s.benchmark if b.service_code == "9" and b.respondent_type == "client")
    assert (bench.net_sample, bench.completed, bench.grade.mean, bench.published) == (2, 2, 7.0, None)


def test_an_aspect_clearly_above_the_other_providers_is_named_relatively_good() -> None:
    events = pluswerk_clearly_above_werkfit_on_attention()

    well = snapshot(events).relatively_well

    assert [(a.question_id, a.n) for a in well] == [("aspect_attention", 12)]
    assert well[0].p_value < 0.05 and well[0].mean > well[0].others_mean


def test_no_aspect_is_tested_on_fewer_answers_than_the_scheme_minimum() -> None:
    panel = Panel("kto-2019")
    events: list[Event] = []
    for provider, attention, count in (("pluswerk", "zeer_tevreden", 4), ("werkfit", "zeer_ontevreden", 40)):
        for _ in range(count):
            invitation = panel.invite(provider)
            events += [invitation, panel.answer(invitation, bow_client_answers(8, attention=attention))]

    assert snapshot(events).relatively_well == ()


# --- withdrawals and the recompute ------------------------------------------------------------


def test_a_withdrawal_takes_its_response_out() -> None:
    ledger, r = ResponseLedger(), KeptResponse(A, "bow-client-regular", 1, True, bow_client_answers(8))

    ledger.submit("r1", "i1", r)
    assert ledger.withdraw("r1", "i1") == r
    assert ledger.responses() == []


def test_a_withdrawal_that_comes_first_blocks_its_response() -> None:
    ledger = ResponseLedger()

    ledger.withdraw("r1", "i1")
    assert not ledger.submit("r1", "i1", KeptResponse(A, "bow-client-regular", 1, True, {}))


def test_a_second_response_to_an_invitation_and_its_withdrawal_change_nothing() -> None:
    ledger = ResponseLedger()
    first = KeptResponse(A, "minimal-v1", 1, True, {"grade": 8})

    ledger.submit("r1", "i1", first)
    assert not ledger.submit("r2", "i1", KeptResponse(A, "minimal-v1", 1, True, {"grade": 2}))
    assert ledger.withdraw("r2", "i1") is None
    assert ledger.responses() == [first]


def test_a_responses_file_takes_payloads_envelopes_and_withdrawals() -> None:
    panel = Panel("kto-2019")
    invitation, other = panel.invite("pluswerk"), panel.invite("pluswerk")
    kept_response = panel.answer(invitation, bow_client_answers(8))
    withdrawn = panel.answer(other, bow_client_answers(3))
    lines = [
        kept_response.payload.model_dump_json(),
        "",
        withdrawn.model_dump_json(),  # the whole envelope, as on the topic
        panel.withdraw(withdrawn).payload.model_dump_json(),
        Panel.answer(Panel("another-study").invite("x"), {"grade": 1}).payload.model_dump_json(),
    ]

    [only] = responses_from_lines("kto-2019", lines)
    assert only.answers["grade"] == 8


def test_two_aggregates_that_differ_are_named_unit_by_unit() -> None:
    [line] = tally_differences({A: UnitTally(invited=2)}, {A: UnitTally(invited=1)})

    assert line.startswith("pluswerk / 9 / client: recomputed UnitTally(invited=2)")


def test_figures_that_differ_are_named_by_their_path() -> None:
    assert figure_differences({"units": [{"n": 1}]}, {"units": [{"n": 2}]}) == [
        "units[0].n: recomputed 1, kept 2"
    ]


# --- the snapshot as published (serialised without validation) ----------------------------------


def published(
    events: Sequence[Event], scheme: Scheme | None, provider: str
) -> tuple[Event, ScoresUpdatedPayload]:
    """The event the service publishes for a provider's snapshot, read back as a consumer reads
    it, beside the payload the model makes of the same tree."""
    units = fold(events)
    study = next(iter(units)).study_id
    figures = StudyFigures(study, scheme, units)
    tree = figures.snapshot_tree(
        provider, units_by_provider(units).get(ProviderKey(study, provider), {}), NOW
    )
    message = snapshot_message(tree, uuid.uuid4())
    return parse_event(message.body), ScoresUpdatedPayload.model_validate(tree)


def test_a_published_blik_op_werk_snapshot_reads_as_the_model_makes_it() -> None:
    event, validated = published(seed_000_events(Panel("kto-2019")), BOW, "pluswerk")

    assert event.type == "scores.updated" and event.version == 2
    assert event.payload == validated
    assert event.payload.norms and event.payload.benchmark


def test_a_published_jobcoach_snapshot_reads_as_the_model_makes_it() -> None:
    events = seed_001_events(Panel("jc-2017", "uwv-jobcoach"))

    event, validated = published(events, load_scheme("uwv-jobcoach"), "jobcoach-noord")

    assert event.payload == validated and event.payload.headline is None


def test_a_published_snapshot_with_aspects_relatively_well_reads_as_the_model_makes_it() -> None:
    events = pluswerk_clearly_above_werkfit_on_attention()

    event, validated = published(events, BOW, "pluswerk")

    assert event.payload == validated and event.payload.relatively_well


def pluswerk_clearly_above_werkfit_on_attention() -> list[Event]:
    """12 pluswerk clients mostly very satisfied with the attention they got, 30 werkfit clients
    mostly dissatisfied; every fourth client of both merely satisfied."""
    panel = Panel("kto-2019")
    events: list[Event] = []
    for provider, attention, count in (("pluswerk", "zeer_tevreden", 12), ("werkfit", "ontevreden", 30)):
        for n in range(count):
            invitation = panel.invite(provider)
            mixed = attention if n % 4 else "tevreden"
            events += [invitation, panel.answer(invitation, bow_client_answers(8, attention=mixed))]
    return events
