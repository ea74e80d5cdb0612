"""An automated check that no shown figure reveals a group below the disclosure minimum.

A report, an export or the register shows cells: a group's number of respondents (n) and, where
a mean is shown, its sum (mean × n). A family is a total and the parts it is made of (a
provider's total and its diensten; a provider's rows in the register). The check tries every
subtraction of a set of shown parts from the shown total: when what is left is a group of
1 … minimum − 1 respondents whose sum is known too, its mean follows, and that is a leak. A
shown cell of 1 … minimum − 1 respondents is a leak by itself.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

N_IN_LABEL = re.compile(r"\(n=(\d+)\)")


@dataclass(frozen=True)
class ShownCell:
    label: str
    n: int
    mean: float | None  # None: the figure is hidden ("*", "–"), only n is known

    @property
    def total(self) -> float | None:
        return None if self.mean is None else self.mean * self.n


def dutch_number(text: str) -> float | None:
    """``"8,5"`` → 8.5; anything else (``"*"``, ``"–"``, empty) → None."""
    cleaned = text.strip().rstrip("%").replace(".", "").replace(",", ".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def leaks(total: ShownCell, parts: Sequence[ShownCell], min_n: int, where: str = "") -> list[str]:
    """Every group below ``min_n`` that a shown cell, or a subtraction of shown parts from the
    shown total they make up, reveals (with the figure it reveals)."""
    found = [
        f"{where}: {c.label} shown on n={c.n}"
        for c in (total, *parts)
        if c.mean is not None and 0 < c.n < min_n
    ]
    if total.total is None:
        return found
    shown = [c for c in parts if c.total is not None and c.n > 0]
    for size in range(1, len(shown) + 1):
        for taken in itertools.combinations(shown, size):
            rest = total.n - sum(c.n for c in taken)
            if 0 < rest < min_n:
                figure = (total.total - sum(c.total or 0 for c in taken)) / rest
                names = " − ".join(c.label for c in taken)
                found.append(f"{where}: {total.label} − {names} reveals n={rest}, mean {figure:.2f}")
    return found


Family = tuple[str, ShownCell, Sequence[ShownCell], int]  # where, total, parts, minimum


def all_leaks(families: Iterable[Family]) -> list[str]:
    return [leak for where, total, parts, min_n in families for leak in leaks(total, parts, min_n, where)]
