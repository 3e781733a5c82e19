"""Small-cell suppression: the primary rule, complementary suppression, random tables."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from mi_portal.services.suppression import (
    Cell,
    Position,
    Table,
    primary,
    recoverable_by_subtraction,
    suppress,
)


def _table(
    counts: list[list[int]], *, rows: bool = True, columns: bool = True, grand: bool = True
) -> Table:
    """A table whose cells each describe as many patients as they count (one event each)."""
    cells = [[Cell(v, v) for v in row] for row in counts]
    width = len(counts[0])
    row_totals = [Cell(sum(r), sum(r)) for r in counts] if rows else None
    column_totals = (
        [Cell(sum(r[j] for r in counts), sum(r[j] for r in counts)) for j in range(width)]
        if columns
        else None
    )
    total = sum(map(sum, counts))
    return Table(cells, row_totals, column_totals, Cell(total, total) if grand else None)


def _equations(table: Table) -> list[dict[Position, int]]:
    """Every sum the table states, as {entry: coefficient} = 0."""
    h, w = table.height, table.width
    found: list[dict[Position, int]] = []
    if table.row_totals is not None:
        for i in range(h):
            found.append({**{(i, j): 1 for j in range(w)}, (i, w): -1})
    if table.column_totals is not None:
        for j in range(w):
            found.append({**{(i, j): 1 for i in range(h)}, (h, j): -1})
    if table.grand is not None:
        if table.column_totals is not None:
            found.append({**{(h, j): 1 for j in range(w)}, (h, w): -1})
        if table.row_totals is not None:
            found.append({**{(i, w): 1 for i in range(h)}, (h, w): -1})
    return found


def _determined(table: Table, hidden: set[Position]) -> set[Position]:
    """Hidden entries whose value the visible ones fix (exact linear algebra, independent of
    the graph argument the module uses): x_k is fixed iff e_k lies in the row space of the
    equations restricted to the hidden entries."""
    unknowns = sorted(hidden)
    index = {pos: k for k, pos in enumerate(unknowns)}
    matrix = [
        [Fraction(eq.get(pos, 0)) for pos in unknowns]
        for eq in _equations(table)
        if any(pos in index for pos in eq)
    ]
    # Reduced row echelon form.
    pivots: list[int] = []
    r = 0
    for c in range(len(unknowns)):
        pivot = next((i for i in range(r, len(matrix)) if matrix[i][c] != 0), None)
        if pivot is None:
            continue
        matrix[r], matrix[pivot] = matrix[pivot], matrix[r]
        lead = matrix[r][c]
        matrix[r] = [x / lead for x in matrix[r]]
        for i in range(len(matrix)):
            if i != r and matrix[i][c] != 0:
                f = matrix[i][c]
                matrix[i] = [x - f * y for x, y in zip(matrix[i], matrix[r], strict=True)]
        pivots.append(c)
        r += 1
    fixed = set()
    for row_i, c in enumerate(pivots):
        if all(x == 0 for k, x in enumerate(matrix[row_i]) if k != c):
            fixed.add(unknowns[c])
    return fixed


def test_a_cell_below_eleven_patients_is_hidden_and_eleven_is_shown() -> None:
    table = _table([[10, 11, 40], [30, 25, 50]])
    assert primary(table) == {(0, 0)}
    hidden = suppress(table)
    assert (0, 0) in hidden and (0, 1) not in {p for p in primary(table)}
    assert recoverable_by_subtraction(table, hidden) == set()
    assert _determined(table, hidden) == set()


def test_one_small_cell_takes_the_cheapest_rectangle_with_it() -> None:
    table = _table([[5, 30, 12], [40, 20, 60], [50, 15, 70]])
    hidden = suppress(table)
    # (0,0) is small. Rectangles through it: via (0,1),(1,1),(1,0) hides 30+20+40 = 90, the
    # least (via (0,2),(1,2),(1,0): 112; via (0,1),(2,1),(2,0): 95); totals stay shown.
    assert hidden == {(0, 0), (0, 1), (1, 1), (1, 0)}
    assert recoverable_by_subtraction(table, hidden) == set()
    assert _determined(table, hidden) == set()


def test_a_small_total_hides_a_row_and_keeps_it_hidden() -> None:
    # Row 0 has 3 + 4 = 7 patients: both cells and the row total are small.
    table = _table([[3, 4], [20, 30], [25, 35]])
    hidden = suppress(table)
    assert {(0, 0), (0, 1), (0, 2)} <= hidden
    assert _determined(table, hidden) == set()
    assert recoverable_by_subtraction(table, hidden) == set()


def test_a_tiny_table_hides_everything_down_to_the_grand_total() -> None:
    table = _table([[2, 3], [1, 4]])
    hidden = suppress(table)
    assert hidden == set(table.entries())


def test_a_hidden_total_alone_would_be_the_sum_of_its_row() -> None:
    # Each cell describes 11+ patients but the total counts patients once: 12 (people in both).
    cells = [[Cell(11, 11), Cell(12, 11)], [Cell(30, 30), Cell(40, 40)]]
    table = Table(
        cells,
        row_totals=[Cell(23, 10), Cell(70, 70)],
        column_totals=[Cell(41, 41), Cell(52, 51)],
        grand=Cell(93, 80),
    )
    hidden = suppress(table)
    assert (0, 2) in hidden  # the small total
    assert len(hidden) > 1  # …and it is not left as the one hidden entry of its row
    assert recoverable_by_subtraction(table, hidden) == set()
    assert _determined(table, hidden) == set()


def test_two_hidden_cells_per_line_that_still_give_one_away_are_fixed() -> None:
    # Primary cells in a pattern where every line has 0 or 2 hidden cells but one cell is on
    # no cycle: {(0,0),(0,1),(1,0),(1,1)} is a cycle; (0,3)-(2,3)-(2,4)... builds a chain.
    table = _table(
        [
            [5, 6, 40, 3, 50],
            [7, 8, 45, 60, 55],
            [30, 35, 50, 4, 2],
            [40, 45, 55, 60, 70],
        ]
    )
    hidden = suppress(table)
    assert primary(table) <= hidden
    assert _determined(table, hidden) == set()


def test_a_table_without_row_totals_is_protected_along_its_columns() -> None:
    # The funnel: stages are columns with totals over the months, no row totals.
    table = _table([[30, 12, 4], [25, 15, 11], [40, 20, 13]], rows=False, grand=False)
    hidden = suppress(table)
    assert (0, 2) in hidden and (1, 2) in hidden  # 11 is the smallest other cell of column 2
    assert all(j == 2 for _i, j in hidden)  # other columns untouched: no sum links them
    assert _determined(table, hidden) == set()


def test_nothing_small_hides_nothing() -> None:
    table = _table([[11, 12], [13, 14]])
    assert suppress(table) == set()


@pytest.mark.parametrize("seed", range(300))
def test_random_tables_give_no_hidden_cell_away(seed: int) -> None:
    rng = random.Random(seed)
    h, w = rng.randint(1, 6), rng.randint(1, 5)
    counts = [[rng.choice([0, 1, 5, 10, 11, 12, 20, 40, 90]) for _ in range(w)] for _ in range(h)]
    # Patients: each cell's patients up to its value; a total's patients between the largest
    # of its cells' and their sum (one patient may be in several cells).
    cells = [[Cell(v, rng.randint(min(v, 1), v) if v else 0) for v in row] for row in counts]

    def total(parts: list[Cell]) -> Cell:
        value = sum(c.value for c in parts)
        most, all_ = max((c.patients for c in parts), default=0), sum(c.patients for c in parts)
        return Cell(value, rng.randint(most, all_))

    rows = rng.random() < 0.8
    columns = rng.random() < 0.8
    grand = rng.random() < 0.8 and (rows or columns)
    table = Table(
        cells,
        [total(r) for r in cells] if rows else None,
        [total([r[j] for r in cells]) for j in range(w)] if columns else None,
        total([c for r in cells for c in r]) if grand else None,
    )
    hidden = suppress(table)
    assert primary(table) <= hidden
    assert all(table.entries()[p].patients >= 11 for p in set(table.entries()) - hidden)
    assert recoverable_by_subtraction(table, hidden) == set()
    assert _determined(table, hidden) == set()


def test_ragged_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        suppress(Table([[Cell(1, 1)], [Cell(1, 1), Cell(2, 2)]]))


def test_an_entry_hidden_elsewhere_is_hidden_here_with_its_complements() -> None:
    table = _table([[30, 40], [50, 60]])
    hidden = suppress(table, forced=[(0, 2)])  # row 0's total, hidden in a linked table
    assert (0, 2) in hidden and len(hidden) > 1
    assert recoverable_by_subtraction(table, hidden) == set()
    assert _determined(table, hidden) == set()
