"""Sampling when a provider delivers more than needed: reproducible, stratified, proportional."""

from __future__ import annotations

import uuid
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from services.invitations.domain import (
    Contact,
    allocate,
    draw_sample,
    remaining_quotas,
    sample_contacts,
    sampling_seed,
)

SEED = sampling_seed("bow-2026", "P1", uuid.UUID(int=1))


def units(
    stratum: str, count: int, group: str = "client/regular", prefix: str = ""
) -> list[tuple[str, str, str]]:
    return [(f"{prefix or stratum}-{group}-{n}", stratum, group) for n in range(count)]


def test_the_same_seed_draws_the_same_sample() -> None:
    population = units("3", 100)
    assert draw_sample(population, {"3": 20}, SEED) == draw_sample(population, {"3": 20}, SEED)


def test_another_delivery_draws_another_sample() -> None:
    population = units("3", 100)
    other = sampling_seed("bow-2026", "P1", uuid.UUID(int=2))
    assert draw_sample(population, {"3": 20}, SEED) != draw_sample(population, {"3": 20}, other)


def test_the_sample_does_not_depend_on_the_order_of_the_rows() -> None:
    population = units("3", 100)
    assert draw_sample(population, {"3": 20}, SEED) == draw_sample(population[::-1], {"3": 20}, SEED)


def test_each_service_keeps_its_requested_size() -> None:
    kept = draw_sample(units("3", 100) + units("7", 50), {"3": 20, "7": 10}, SEED)
    assert Counter(key.split("-")[0] for key in kept) == {"3": 20, "7": 10}


def test_a_service_with_fewer_rows_than_requested_keeps_them_all() -> None:
    kept = draw_sample(units("3", 8), {"3": 20}, SEED)
    assert len(kept) == 8


def test_a_service_without_a_requested_size_is_not_sampled() -> None:
    kept = draw_sample(units("3", 100) + units("7", 30), {"3": 10}, SEED)
    assert sum(1 for key in kept if key.startswith("7-")) == 30


def test_within_a_service_the_sample_keeps_the_mix_of_client_groups() -> None:
    population = (
        units("3", 60, "client/regular")
        + units("3", 30, "client/laagdrempelig")
        + units("3", 10, "client/inburgering")
    )
    kept = draw_sample(population, {"3": 20}, SEED)
    assert Counter(key.split("-")[1] for key in kept) == {
        "client/regular": 12,
        "client/laagdrempelig": 6,
        "client/inburgering": 2,
    }


def test_largest_remainders_decide_where_the_last_units_go() -> None:
    assert allocate(6, {"a": 5, "b": 3, "c": 1}) == {"a": 3, "b": 2, "c": 1}
    assert allocate(2, {"a": 1, "b": 1, "c": 1}) == {"a": 1, "b": 1, "c": 0}


@given(
    total=st.integers(min_value=0, max_value=500),
    sizes=st.dictionaries(st.sampled_from("abcdefgh"), st.integers(min_value=0, max_value=200), min_size=1),
)
def test_an_allocation_adds_up_never_exceeds_a_group_and_stays_within_one_of_proportional(
    total: int, sizes: dict[str, int]
) -> None:
    allocation = allocate(total, sizes)
    population = sum(sizes.values())
    assert sum(allocation.values()) == min(total, population)
    for group, size in sizes.items():
        assert 0 <= allocation[group] <= size
        if population:
            assert abs(allocation[group] - min(total, population) * size / population) < 1


@given(
    sizes=st.dictionaries(
        st.sampled_from(["1", "3", "7", "11"]), st.integers(min_value=0, max_value=60), min_size=1
    ),
    quotas=st.dictionaries(st.sampled_from(["1", "3", "7", "11"]), st.integers(min_value=0, max_value=80)),
)
def test_a_sample_never_exceeds_a_stratum_or_its_quota(sizes: dict[str, int], quotas: dict[str, int]) -> None:
    population = [u for stratum, n in sizes.items() for u in units(stratum, n)]
    kept = Counter(key.split("-")[0] for key in draw_sample(population, quotas, SEED))
    for stratum, size in sizes.items():
        assert kept[stratum] == min(size, quotas.get(stratum, size))


def _contact(ref: str, service: str, respondent_type: str = "client") -> Contact:
    return Contact(
        ref, "", f"{ref}@x.nl", service, "client" if respondent_type == "client" else "opdrachtgever"
    )


def test_opdrachtgevers_are_never_sampled_out() -> None:
    contacts = [_contact(f"C{n}", "3") for n in range(10)] + [
        _contact(f"O{n}", "3", "opdrachtgever") for n in range(5)
    ]
    invited, sampled_out = sample_contacts(contacts, {"3": 2}, SEED)
    assert sum(1 for c in invited if c.respondent_type == "opdrachtgever") == 5
    assert (len(invited), len(sampled_out)) == (7, 8)


def test_the_quota_of_a_later_delivery_is_what_earlier_deliveries_left_open() -> None:
    assert remaining_quotas({"3": 40, "7": 10}, {"3": 25, "7": 12}) == {"3": 15, "7": 0}
