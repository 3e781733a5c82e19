"""Small-cell suppression of one row: the primary rule, the complementary rule where the row's
total is public, and random rows in which no hidden figure of 1–10 patients can be worked out."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from mi_portal.services.suppression import Row, hidden_cells, unions


def _row(cells: Sequence[Sequence[int]], *, public: bool = True) -> Row:
    """A row from each cell's patients (one list of patient ids per cell, one case each)."""
    values = [len(c) for c in cells]
    patients = {s: len(set().union(*(set(cells[j]) for j in s))) for s in unions(len(cells))}
    return Row(values, patients, total_public=public)


def _people(start: int, count: int) -> list[int]:
    return list(range(start, start + count))


def test_a_cell_of_one_to_ten_patients_is_hidden_and_zero_is_shown() -> None:
    # 40 / 0 / 11 of a public total 51: nothing small, nothing hidden; zeros describe nobody.
    assert hidden_cells(_row([_people(0, 40), [], _people(100, 11)])) == set()
    # A row without a public total: only the small cell.
    row = _row([_people(0, 40), _people(50, 10), [], _people(100, 11)], public=False)
    assert hidden_cells(row) == {1}


def test_the_funnel_pair_that_received_minus_not_quoted_gave_away() -> None:
    # 25 not quoted, 2 quoted only, 1 accepted; total 28 shown. Hiding 2 and 1 alone leaves
    # their sum (28 - 25 = 3 quoted patients) exact: "Not quoted" is hidden too.
    row = _row([_people(0, 25), _people(100, 2), _people(200, 1)])
    assert hidden_cells(row) == {0, 1, 2}


def test_one_small_cell_takes_the_smallest_other_with_it() -> None:
    row = _row([_people(0, 5), _people(100, 30), _people(200, 12)])
    # 5 alone would be total - 30 - 12; with 12 hidden too the hidden pair describes 17.
    assert hidden_cells(row) == {0, 2}


def test_hiding_goes_on_until_the_hidden_cells_describe_eleven_or_more() -> None:
    # 3 and 2 are small and describe 5 together: the smallest visible cell (11) joins them (16).
    row = _row([_people(0, 3), _people(100, 2), _people(200, 11), _people(300, 40)])
    assert hidden_cells(row) == {0, 1, 2}


def test_patients_in_several_cells_are_counted_once_for_the_rule() -> None:
    # Two hidden cells of 6 cases each, but the same 6 patients (each with two cases): together
    # they describe 6, not 12, so a third cell is hidden.
    same = _people(0, 6)
    row = _row([same, same, _people(100, 20), _people(200, 30)])
    assert hidden_cells(row) == {0, 1, 2}
    different = _row([_people(0, 6), _people(50, 6), _people(100, 20), _people(200, 30)])
    assert hidden_cells(different) == {0, 1}  # 12 different patients: enough


def test_a_small_public_total_hides_every_cell_zeros_included() -> None:
    # 5 received, none quoted: shown as 5 / 0 / 0 the first cell would be the total.
    row = _row([_people(0, 5), [], []])
    assert hidden_cells(row) == {0, 1, 2}
    # Without a public total the zeros may show.
    assert hidden_cells(_row([_people(0, 5), [], []], public=False)) == {0}


def test_a_cell_is_shown_from_eleven_patients() -> None:
    assert hidden_cells(_row([_people(0, 11), _people(50, 11)])) == set()
    assert hidden_cells(_row([_people(0, 10), _people(50, 12)])) == {0, 1}


def _random_row(rng: random.Random, public: bool) -> tuple[Row, list[set[int]]]:
    width = rng.randint(2, 4)
    pool = rng.choice([8, 15, 30, 80])
    cells: list[list[int]] = []
    for _ in range(width):
        size = rng.choice([0, 0, 1, 3, 6, 10, 11, 12, 20, 40])
        # Cases of patients from a shared pool: some patients have cases in several cells.
        cells.append([rng.randrange(pool) for _ in range(size)])
    return _row(cells, public=public), [set(c) for c in cells]


@pytest.mark.parametrize("seed", range(400))
def test_random_rows_give_no_hidden_figure_of_one_to_ten_patients_away(seed: int) -> None:
    rng = random.Random(seed)
    public = rng.random() < 0.75
    row, people = _random_row(rng, public)
    hidden = hidden_cells(row)
    cells = range(len(row.values))
    # Nothing shown describes 1–10 patients; a zero is shown only as a true zero.
    for j in set(cells) - hidden:
        assert row.describes([j]) == 0 or row.describes([j]) >= 11
    if not public:
        assert hidden == {j for j in cells if 0 < row.describes([j]) < 11}
        return
    # What a reader works out: total - visible = the hidden cells' sum, describing the union
    # of their patients. It must describe nobody, 11 or more, or be the public total itself.
    together = len(set().union(*(people[j] for j in hidden)))
    non_zero = {j for j in cells if row.values[j]}
    assert together == 0 or together >= 11 or non_zero <= hidden
    # No hidden cell is alone (it would be the total minus the others) unless the row has
    # nothing else; a small total hides the whole row.
    assert len(hidden) != 1
    everyone = len(set().union(*people))
    if 0 < everyone < 11:
        assert hidden == set(cells)
