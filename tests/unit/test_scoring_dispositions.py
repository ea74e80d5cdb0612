"""AAPOR final dispositions: the ranking of what is known about an invitation, and the rates."""

from __future__ import annotations

import itertools
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain import (
    DISPOSITION_RANKING,
    DispositionChange,
    DispositionLedger,
    DispositionState,
    UnitKey,
    UnitTally,
    approach_class,
    better_disposition,
    disposition_figures,
    final_disposition,
)
from services.scoring.figures import Dispositions, aapor_rates
from services.scoring.service import facts_from_lines
from shared.events import AaporCode
from tests.seeds import Panel, bow_client_answers

A = UnitKey("kto-2019", "pluswerk", "9", "client")
codes = st.sampled_from(DISPOSITION_RANKING)


def test_a_questionnaire_outranks_a_refusal_and_a_non_contact() -> None:
    assert final_disposition("R", "I") == "I"
    assert final_disposition("NC", "P") == "P"


def test_a_refusal_outranks_a_non_contact_whatever_came_first() -> None:
    assert better_disposition("NC", "R") == better_disposition("R", "NC") == "R"


def test_a_person_spoken_to_outranks_unknown_eligibility() -> None:
    assert better_disposition("O", "UH") == "O"
    assert better_disposition("UO", "NC") == "NC"


def test_an_undelivered_invitation_outranks_one_that_was_only_sent() -> None:
    assert better_disposition(approach_class("sent", None), approach_class("undeliverable", None)) == "UO"


def test_nothing_known_is_no_disposition() -> None:
    assert final_disposition(None, None) is None
    assert better_disposition(None, "UH") == "UH"


@given(st.lists(codes, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_any_order_and_any_repetition_of_the_facts_give_the_same_disposition(
    facts: list[AaporCode], order: object
) -> None:
    shuffled = facts * 2
    order.shuffle(shuffled)  # type: ignore[attr-defined]

    assert reduce(better_disposition, shuffled) == min(facts, key=DISPOSITION_RANKING.index)


def test_the_ranking_is_total_and_strict() -> None:
    for a, b in itertools.permutations(DISPOSITION_RANKING, 2):
        assert better_disposition(a, b) == (
            a if DISPOSITION_RANKING.index(a) < DISPOSITION_RANKING.index(b) else b
        )


def test_a_calls_own_complete_is_left_to_the_questionnaire_it_produced() -> None:
    assert approach_class("complete", "I") is None
    assert approach_class("partial", "P") is None
    assert approach_class("refusal", "R") == "R"
    assert approach_class("no_answer", "UH") == "UH"


def test_a_withdrawn_questionnaire_falls_back_to_the_approaches_disposition() -> None:
    answered = DispositionChange(answered="I").applied_to(DispositionState(approach="NC"))
    withdrawn = DispositionChange(withdrawn=True).applied_to(answered)

    assert (answered.final, withdrawn.final) == ("I", "NC")
    assert withdrawn.tally() == UnitTally(non_contact=1)


def test_a_counted_questionnaire_adds_no_disposition_of_its_own() -> None:
    assert DispositionState(approach="R", answered="P").tally() == UnitTally()


# --- the rates --------------------------------------------------------------------------------


def test_rr1_rr2_and_coop1_follow_the_aapor_standard_definitions() -> None:
    rates = aapor_rates(
        Dispositions(complete=3, partial=1, refusal=2, non_contact=2, other=1, unknown_household=1)
    )

    assert (rates.rr1, rates.rr2, rates.coop1) == pytest.approx((3 / 10, 4 / 10, 3 / 7))


def test_without_dispositions_there_are_no_rates() -> None:
    rates = aapor_rates(Dispositions())

    assert (rates.rr1, rates.rr2, rates.coop1) == (None, None, None)


def test_when_nobody_was_reached_the_response_rates_are_zero_and_cooperation_has_no_base() -> None:
    rates = aapor_rates(Dispositions(non_contact=5))

    assert (rates.rr1, rates.rr2, rates.coop1) == (0.0, 0.0, None)


def test_a_units_disposition_figures_count_every_class() -> None:
    figures = disposition_figures(UnitTally(usable=2, partial=1, refusal=1, non_contact=3, unknown_other=1))

    assert (figures["complete"], figures["refusal"], figures["non_contact"], figures["unknown_other"]) == (
        2,
        1,
        3,
        1,
    )
    assert (figures["rr1"], figures["rr2"], figures["coop1"]) == pytest.approx((2 / 8, 3 / 8, 2 / 4))


# --- the recompute's file ----------------------------------------------------------------------


def test_a_facts_file_takes_approaches_opt_outs_and_bounces_as_dispositions() -> None:
    panel = Panel("kto-2019")
    called, opted_out, bounced, answered = (panel.invite("pluswerk") for _ in range(4))
    lines = [
        panel.approach(called, "answering_machine", "NC").payload.model_dump_json(),
        panel.approach(called, "language_barrier", "O", attempt=2).model_dump_json(),  # the envelope
        panel.opt_out(opted_out).payload.model_dump_json(),
        panel.bounce(bounced).payload.model_dump_json(),
        panel.approach(answered, "refusal", "R").payload.model_dump_json(),
        panel.answer(answered, bow_client_answers(8)).payload.model_dump_json(),
    ]

    facts = facts_from_lines("kto-2019", lines)

    assert facts.dispositions is not None
    tallies = facts.dispositions.tallies(facts.responses)
    assert sorted(repr(t) for _, t in tallies) == sorted(
        ["UnitTally(other=1)", "UnitTally(refusal=1)", "UnitTally(unknown_other=1)", "UnitTally()"]
    )


def test_a_responses_file_without_approaches_leaves_the_dispositions_to_the_stored_ones() -> None:
    panel = Panel("kto-2019")
    line = panel.answer(panel.invite("pluswerk"), bow_client_answers(8)).payload.model_dump_json()

    assert facts_from_lines("kto-2019", [line]).dispositions is None


def test_the_ledger_keeps_the_first_named_unit_and_the_best_class() -> None:
    ledger = DispositionLedger()
    ledger.approach("i1", A, "UH")
    ledger.approach("i1", A, "R")
    ledger.approach("i1", A, "NC")

    assert ledger.tallies([]) == [(A, UnitTally(refusal=1))]
