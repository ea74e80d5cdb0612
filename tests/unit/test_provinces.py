"""The province (provincie) of a contact, from the four digits of the postcode."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest

from services.invitations.provinces import PROVINCES, RANGES, province_of
from shared.events import InvitationIssuedPayload, Province


@pytest.mark.parametrize(
    ("postcode", "province"),
    [
        ("2712 AB", "Zuid-Holland"),  # Zoetermeer
        ("3511 LX", "Utrecht"),  # Utrecht
        ("8011 PK", "Overijssel"),  # Zwolle
        ("1315 AA", "Flevoland"),  # Almere
        ("6211 CN", "Limburg"),  # Maastricht
        ("9711 LM", "Groningen"),  # Groningen
        ("7811 AP", "Drenthe"),  # Emmen
        ("8911 BK", "Friesland"),  # Leeuwarden
        ("4331 LK", "Zeeland"),  # Middelburg
        ("5611 AB", "Noord-Brabant"),  # Eindhoven
        ("6811 AB", "Gelderland"),  # Arnhem
        ("1012 JS", "Noord-Holland"),  # Amsterdam
    ],
)
def test_a_real_postcode_gives_its_province(postcode: str, province: str) -> None:
    assert province_of(postcode) == province


@pytest.mark.parametrize(
    ("postcode", "province"),
    [
        ("3891 AA", "Flevoland"),  # Zeewolde, amid Utrecht and Gelderland
        ("3771 AA", "Gelderland"),  # Barneveld
        ("8051 AA", "Gelderland"),  # Hattem, beside Zwolle
        ("9761 AA", "Drenthe"),  # Eelde, beside Groningen
        ("6021 AA", "Noord-Brabant"),  # Budel, amid Limburg
        ("4131 AA", "Utrecht"),  # Vianen (Vijfheerenlanden)
    ],
)
def test_an_area_on_the_other_side_of_a_provincial_border_gets_its_own_province(
    postcode: str, province: str
) -> None:
    assert province_of(postcode) == province


def test_the_digits_alone_or_without_a_space_are_enough() -> None:
    assert province_of("2712") == province_of("2712ab") == province_of(" 2712 AB ") == "Zuid-Holland"


@pytest.mark.parametrize("postcode", [None, "", "0123 AB", "12345", "AB 1234", "1234 A", "B-1000"])
def test_a_missing_or_malformed_postcode_gives_no_province(postcode: str | None) -> None:
    assert province_of(postcode) is None


def test_the_table_covers_every_postcode_once_in_ascending_ranges() -> None:
    assert RANGES[0][0] == 1000 and RANGES[-1][1] == 9999
    for (_, last, _), (first, _, _) in itertools.pairwise(RANGES):
        assert first == last + 1
    assert all(first <= last for first, last, _ in RANGES)


def test_every_one_of_the_twelve_provinces_has_postcodes() -> None:
    assert sorted(PROVINCES) == sorted(get_args(Province)) and len(PROVINCES) == 12


def test_the_issued_event_carries_the_province_and_no_postcode() -> None:
    fields = InvitationIssuedPayload.model_fields
    assert "province" in fields and fields["province"].default is None
    assert not any("postcode" in name for name in fields)
