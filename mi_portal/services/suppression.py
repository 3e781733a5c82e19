"""Small-cell suppression of one row of counts: one month of one platform trend.

A row is a few disjoint cells (cases by the form they came through, the funnel's parts,
messages per channel). Each cell has a value (what it shows) and the distinct patients it
describes; the patients of any union of cells are known too (one patient may be in several
cells, so they are counted, not added).

1. **Primary**: a cell describing 1–10 patients is hidden (``SUPPRESSED``). A cell of 0
   describes no patient and shows 0.
2. **Complementary**, only in a row whose total is public (shown beside it, or derivable
   elsewhere: the cases received in a month are the usage table's sum): a reader gets the sum
   of the hidden cells as the total minus the visible ones. While the hidden cells together
   describe 1–10 patients and a non-zero cell is still visible, the smallest visible non-zero
   cell is hidden too. Each step hides one more cell, so the routine always ends, in one of:
   the hidden cells describe nobody, or 11 patients or more, or every non-zero cell is hidden
   (their sum is then the public total itself).
3. In a row whose public total describes 1–10 patients every cell is hidden, zeros included:
   with a zero shown, a single hidden cell would be the total.

So in a row with a public total no hidden cell is ever alone (it would be the total minus the
others). Rows without a public total get the primary rule only and must show no total.
Each row is suppressed on its own figures, so a month reads the same in every range.
Pure functions, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from mi_portal.services.report_types import SMALL_CELL


@dataclass(frozen=True)
class Row:
    """One row: each cell's value, and the distinct patients of cells taken together.

    ``patients`` maps a set of cell indices to the distinct patients of their union: every
    single cell always, every union when ``total_public`` (the row's total is known to the
    reader, and equals the sum of its cells).
    """

    values: Sequence[int]
    patients: Mapping[frozenset[int], int]
    total_public: bool

    def describes(self, cells: Iterable[int]) -> int:
        """The distinct patients of ``cells`` together (0 for none)."""
        key = frozenset(cells)
        return self.patients[key] if key else 0


def unions(width: int) -> list[frozenset[int]]:
    """Every non-empty set of cell indices of a row ``width`` cells wide."""
    return [frozenset(c) for k in range(1, width + 1) for c in combinations(range(width), k)]


def _small(patients: int, threshold: int) -> bool:
    return 0 < patients < threshold


def hidden_cells(row: Row, threshold: int = SMALL_CELL) -> frozenset[int]:
    """The cells of ``row`` to show as ``SUPPRESSED`` (see the module)."""
    cells = range(len(row.values))
    hidden = {j for j in cells if _small(row.describes([j]), threshold)}
    if not row.total_public:
        return frozenset(hidden)
    if _small(row.describes(cells), threshold):
        return frozenset(cells)
    while _small(row.describes(hidden), threshold):
        visible = [j for j in cells if j not in hidden and row.values[j] != 0]
        if not visible:
            break
        hidden.add(min(visible, key=lambda j: (row.describes([j]), row.values[j], j)))
    return frozenset(hidden)
