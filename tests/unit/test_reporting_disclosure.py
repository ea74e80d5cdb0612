"""Disclosure control: which cells a report, export or register hides, and the automated check
that no shown cell, and no subtraction of shown cells, reveals a group below the minimum."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.reporting.disclosure import Cell, benchmark_shown, hidden_cells
from tests.disclosure_check import ShownCell, leaks

MIN_N = 5


@st.composite
def totals_with_parts(draw: st.DrawFn) -> tuple[Cell, list[Cell], int]:
    min_n = draw(st.integers(1, 8))
    ns = draw(st.lists(st.integers(0, 25), min_size=1, max_size=7))
    unpublished = draw(st.lists(st.booleans(), min_size=len(ns), max_size=len(ns)))
    parts = [
        Cell(f"dienst {i}", n, hidden) for i, (n, hidden) in enumerate(zip(ns, unpublished, strict=True))
    ]
    return Cell("totaal", sum(ns)), parts, min_n


def shown_cells(total: Cell, parts: list[Cell], hidden: set[object]) -> tuple[ShownCell, list[ShownCell]]:
    """What a reader sees: n for every cell, a mean (here 7,0) only for those not hidden."""

    def seen(cell: Cell) -> ShownCell:
        return ShownCell(str(cell.key), cell.n, None if cell.key in hidden else 7.0)

    return seen(total), [seen(p) for p in parts]


@given(totals_with_parts())
def test_no_shown_cell_and_no_subtraction_reveals_a_group_below_the_minimum(
    case: tuple[Cell, list[Cell], int],
) -> None:
    total, parts, min_n = case
    hidden = hidden_cells(total, parts, min_n)
    shown_total, shown_parts = shown_cells(total, parts, hidden)
    assert leaks(shown_total, shown_parts, min_n) == []


@given(totals_with_parts())
def test_every_small_or_unpublished_part_is_hidden(case: tuple[Cell, list[Cell], int]) -> None:
    total, parts, min_n = case
    hidden = hidden_cells(total, parts, min_n)
    assert {p.key for p in parts if p.n > 0 and (p.hidden or p.n < min_n)} <= hidden


@given(totals_with_parts())
def test_nothing_more_is_hidden_when_nothing_must_be(case: tuple[Cell, list[Cell], int]) -> None:
    _, parts, min_n = case
    parts = [Cell(p.key, p.n) for p in parts if p.n == 0 or p.n >= min_n]
    assert hidden_cells(Cell("totaal", sum(p.n for p in parts)), parts, min_n) == set()


@given(totals_with_parts())
def test_parts_hidden_beside_a_shown_total_are_two_or_more_and_reach_the_minimum_together(
    case: tuple[Cell, list[Cell], int],
) -> None:
    total, parts, min_n = case
    hidden = hidden_cells(total, parts, min_n)
    hidden_parts = [p for p in parts if p.key in hidden]
    if hidden_parts and total.key not in hidden:
        assert len(hidden_parts) >= 2 and sum(p.n for p in hidden_parts) >= min_n


def test_one_hidden_dienst_beside_a_shown_total_hides_the_smallest_shown_one_too() -> None:
    parts = [Cell("6", 1), Cell("3", 12), Cell("9", 7)]
    assert hidden_cells(Cell("totaal", 20), parts, MIN_N) == {"6", "9"}


def test_two_hidden_diensten_that_sum_to_a_small_group_hide_a_third() -> None:
    parts = [Cell("6", 1), Cell("7", 2), Cell("3", 12), Cell("9", 7)]
    assert hidden_cells(Cell("totaal", 22), parts, MIN_N) == {"6", "7", "9"}


def test_a_total_whose_parts_are_all_hidden_and_too_few_together_is_hidden_too() -> None:
    parts = [Cell("6", 1), Cell("7", 2)]
    assert hidden_cells(Cell("totaal", 3), parts, MIN_N) == {"6", "7", "totaal"}


def test_the_checker_finds_a_dienst_that_follows_from_the_total() -> None:
    total = ShownCell("Totaal", 20, 8.0)
    parts = [ShownCell("dienst 3", 12, 8.5), ShownCell("dienst 9", 7, 8.0), ShownCell("dienst 6", 1, None)]
    assert leaks(total, parts, MIN_N, "fig. 3.1") == [
        "fig. 3.1: Totaal − dienst 3 − dienst 9 reveals n=1, mean 2.00"
    ]


def test_a_benchmark_of_this_provider_alone_is_not_shown() -> None:
    assert not benchmark_shown(benchmark_n=8, own_n=8, min_n=MIN_N)
    assert not benchmark_shown(benchmark_n=11, own_n=8, min_n=MIN_N)
    assert benchmark_shown(benchmark_n=13, own_n=8, min_n=MIN_N)
