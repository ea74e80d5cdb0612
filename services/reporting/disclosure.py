"""Disclosure control for what a report, an export or the register shows (pure: no I/O).

A figure on fewer respondents than the scheme's minimum is not shown, and must not follow from
the figures that are shown. Where a total is shown beside its parts (a provider's total and its
diensten or percelen), the hidden parts together are known by subtraction: their number of
respondents and the sum of their grades, so their mean. That is safe only when at least two parts
are hidden and together hold at least the minimum (complementary suppression, "secundaire
geheimhouding"). A benchmark is the provider itself plus the others: shown only when the others
alone reach the minimum, or the provider could subtract itself and read them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One shown-or-hidden figure of a group: its key, its respondents, and whether it must be
    hidden whatever else is shown (primary suppression: too few, or not publishable)."""

    key: Hashable
    n: int
    hidden: bool = False


def is_small(n: int, min_n: int) -> bool:
    """A group that exists but is under the minimum: nobody answered reveals nobody."""
    return 0 < n < min_n


def hidden_cells(total: Cell, parts: Sequence[Cell], min_n: int) -> set[Hashable]:
    """The keys to hide among a total and the parts it is made of.

    Primary: every part (and the total) that is marked hidden or is small. Complementary: while
    the hidden parts can be told apart by subtraction from a shown total (one hidden part, or
    hidden parts holding fewer than ``min_n`` together), hide the smallest shown part too (by n,
    then key, so the choice is stable); when no part is left, hide the total. Parts without
    respondents (n = 0) show no figure and reveal nobody, so they never count as hidden.
    """
    hidden = {p.key for p in parts if p.n > 0 and (p.hidden or is_small(p.n, min_n))}
    if total.hidden or is_small(total.n, min_n):
        return hidden | {total.key}
    shown = sorted((p for p in parts if p.n > 0 and p.key not in hidden), key=lambda p: (p.n, str(p.key)))
    while hidden and _derivable(hidden, parts, min_n):
        if not shown:
            return hidden | {total.key}
        hidden.add(shown.pop(0).key)
    return hidden


def _derivable(hidden: set[Hashable], parts: Sequence[Cell], min_n: int) -> bool:
    together = sum(p.n for p in parts if p.key in hidden)
    return len(hidden) == 1 or together < min_n


def benchmark_shown(benchmark_n: int, own_n: int, min_n: int) -> bool:
    """A benchmark is shown only when the others in it (benchmark minus this provider) reach the
    minimum: a benchmark of this provider alone, or of it and a few others, would print the
    provider's own hidden figure or let it read the others' by subtracting its own."""
    return benchmark_n - own_n >= max(min_n, 1)
