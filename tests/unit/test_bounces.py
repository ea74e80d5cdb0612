"""Bounce messages as mail servers really send them (tests/data/bounces, from flufl.bounce)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.invitations.emails import parse_bounce

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"


def _expected() -> list[tuple[str, frozenset[str], bool]]:
    rows = []
    for line in (CORPUS / "expected.tsv").read_text().splitlines():
        if line.startswith("#"):
            continue
        name, addresses, temporary = line.split("\t")
        rows.append((name, frozenset(a.lower() for a in addresses.split()), temporary == "yes"))
    return rows


FAILURES = [row for row in _expected() if row[1]]
NO_FAILURE = [row[0] for row in _expected() if not row[1]]


@pytest.mark.parametrize(("name", "addresses", "temporary"), FAILURES, ids=[r[0] for r in FAILURES])
def test_a_real_bounce_names_its_failed_addresses_and_whether_the_failure_is_permanent(
    name: str, addresses: frozenset[str], temporary: bool
) -> None:
    bounce = parse_bounce((CORPUS / name).read_bytes())
    assert addresses <= bounce.addresses
    assert bounce.permanent is not temporary


@pytest.mark.parametrize("name", NO_FAILURE)
def test_a_message_without_a_recognisable_failure_is_refused_with_a_reason_or_names_one(name: str) -> None:
    try:
        bounce = parse_bounce((CORPUS / name).read_bytes())
    except ValueError as exc:
        assert "no delivery failure found" in str(exc) or "no original Message-ID" in str(exc)
    else:
        assert bounce.addresses or bounce.message_id


def test_the_corpus_covers_the_common_formats() -> None:
    kinds = {name.rsplit("_", 1)[0] for name, _, _ in FAILURES}
    assert {"dsn", "exim", "postfix", "qmail", "yahoo", "microsoft", "simple"} <= kinds
    assert len(FAILURES) >= 40
