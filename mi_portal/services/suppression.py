"""Small-cell suppression of a table of counts with its row and column totals.

The rule, applied to every cell of the table *and* to every total:

1. **Primary**: a cell describing fewer than ``SMALL_CELL`` (11) distinct patients is suppressed,
   whatever its value (a total too, and the grand total).
2. **Complementary**, repeated until nothing changes: no suppressed cell may be recoverable from
   the totals that are shown. A table with its totals is a set of sums: each row's cells add up
   to its total, each column's to its total, the column totals and the row totals each add up
   to the grand total. Read the table as a bipartite graph (one node per such sum, one edge per
   cell joining its row's sum and its column's sum; a row or column with no total shown or
   computed joins a free node that constrains nothing). The suppressed cells' values are fixed
   by the visible ones exactly when a suppressed cell is a *bridge* of the graph of suppressed
   cells (it lies on no cycle), since adding and subtracting one amount around a cycle keeps
   every sum. The simplest case is a row or column with exactly one suppressed cell (its value
   is the total minus the others). So while some suppressed cell is a bridge, more cells are
   suppressed: the visible cells of the smallest total value that close a cycle through it
   (often one cell, the smallest completing a rectangle; a cell before a total on a tie).

This is stricter than the plain rule "a row or column whose total is shown and that holds one
suppressed cell gets a second one" (which the bridge test includes): it also stops recovery
through several rows and columns at once. Pure functions, no database.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from mi_portal.services.report_types import SMALL_CELL

# An entry of the extended table: (row, column); row == len(cells) is the column-totals row,
# column == width is the row-totals column, both together the grand total.
Position = tuple[int, int]


@dataclass(frozen=True)
class Cell:
    """A count shown in a table and how many distinct patients it describes."""

    value: int
    patients: int


@dataclass(frozen=True)
class Table:
    """Cells in rows and columns, with optional row totals, column totals and grand total.

    ``row_totals[i]`` is the sum of row ``i``; ``column_totals[j]`` the sum of column ``j``;
    ``grand`` the sum of everything (its patients counted once each, not summed).
    """

    cells: list[list[Cell]]
    row_totals: list[Cell] | None = None
    column_totals: list[Cell] | None = None
    grand: Cell | None = None

    @property
    def height(self) -> int:
        return len(self.cells)

    @property
    def width(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    def entries(self) -> dict[Position, Cell]:
        """Every entry present, cells and totals, by position in the extended table."""
        found: dict[Position, Cell] = {}
        for i, row in enumerate(self.cells):
            if len(row) != self.width:
                raise ValueError("every row needs the same number of cells")
            for j, cell in enumerate(row):
                found[(i, j)] = cell
        if self.row_totals is not None:
            if len(self.row_totals) != self.height:
                raise ValueError("one row total per row")
            for i, cell in enumerate(self.row_totals):
                found[(i, self.width)] = cell
        if self.column_totals is not None:
            if len(self.column_totals) != self.width:
                raise ValueError("one column total per column")
            for j, cell in enumerate(self.column_totals):
                found[(self.height, j)] = cell
        if self.grand is not None:
            found[(self.height, self.width)] = self.grand
        return found


_FREE = ("free", -1)
Node = tuple[str, int]


def _nodes(table: Table) -> tuple[dict[int, Node], dict[int, Node]]:
    """The sum each row and each column of the extended table belongs to (or the free node)."""
    h, w = table.height, table.width
    has_rows, has_columns = table.row_totals is not None, table.column_totals is not None
    has_grand = table.grand is not None
    rows: dict[int, Node] = {i: ("row", i) if has_rows else _FREE for i in range(h)}
    # The column totals add up to the grand total only when it is there.
    rows[h] = ("row", h) if has_columns and has_grand else _FREE
    columns: dict[int, Node] = {j: ("col", j) if has_columns else _FREE for j in range(w)}
    columns[w] = ("col", w) if has_rows and has_grand else _FREE
    return rows, columns


def primary(table: Table, threshold: int = SMALL_CELL) -> set[Position]:
    """The entries describing fewer than ``threshold`` patients."""
    return {pos for pos, cell in table.entries().items() if cell.patients < threshold}


def suppress(
    table: Table, threshold: int = SMALL_CELL, *, forced: Iterable[Position] = ()
) -> set[Position]:
    """Every entry to hide: the small cells, ``forced`` ones (hidden in a linked table) and
    the complementary ones (see the module)."""
    entries = table.entries()
    rows, columns = _nodes(table)
    hidden = primary(table, threshold) | {pos for pos in forced if pos in entries}
    while True:
        bridge = _first_bridge(hidden, rows, columns)
        if bridge is None:
            return hidden
        extra = _complement(bridge, hidden, entries, rows, columns)
        if not extra:  # no visible entry can close a cycle: nothing more to hide
            return hidden
        hidden.update(extra)


def _ends(pos: Position, rows: dict[int, Node], columns: dict[int, Node]) -> tuple[Node, Node]:
    return rows[pos[0]], columns[pos[1]]


def _graph(
    hidden: set[Position], rows: dict[int, Node], columns: dict[int, Node]
) -> dict[Node, list[tuple[Node, Position]]]:
    graph: dict[Node, list[tuple[Node, Position]]] = defaultdict(list)
    for pos in hidden:
        a, b = _ends(pos, rows, columns)
        graph[a].append((b, pos))
        graph[b].append((a, pos))
    return graph


def _reachable(
    graph: dict[Node, list[tuple[Node, Position]]], start: Node, without: Position
) -> set[Node]:
    seen, queue = {start}, deque([start])
    while queue:
        node = queue.popleft()
        for other, pos in graph.get(node, ()):
            if pos != without and other not in seen:
                seen.add(other)
                queue.append(other)
    return seen


def _first_bridge(
    hidden: set[Position], rows: dict[int, Node], columns: dict[int, Node]
) -> Position | None:
    """A hidden entry on no cycle of hidden entries (its value is fixed by the sums)."""
    graph = _graph(hidden, rows, columns)
    for pos in sorted(hidden):
        a, b = _ends(pos, rows, columns)
        if a == b:  # joins the free node to itself: in no sum at all
            continue
        if b not in _reachable(graph, a, pos):
            return pos
    return None


def _complement(
    bridge: Position,
    hidden: set[Position],
    entries: dict[Position, Cell],
    rows: dict[int, Node],
    columns: dict[int, Node],
) -> list[Position]:
    """The visible entries to hide next for ``bridge``: the cheapest chain that closes a cycle.

    A cycle through the bridge needs a chain of entries from one of its sides to the other;
    the chain of the smallest total value is found (Dijkstra over the sums, a cell before a
    total on a tie). Often it is one cell: the smallest one closing a rectangle.
    """
    graph = _graph(hidden, rows, columns)
    a, b = _ends(bridge, rows, columns)
    side_a = _reachable(graph, a, bridge)
    side_b = _reachable(graph, b, bridge)
    last_row, last_column = len(rows) - 1, len(columns) - 1
    links: dict[Node, list[tuple[Node, Position]]] = defaultdict(list)
    for pos in entries:
        if pos not in hidden:
            x, y = _ends(pos, rows, columns)
            links[x].append((y, pos))
            links[y].append((x, pos))

    def cost(pos: Position) -> tuple[int, int]:
        return (entries[pos].value, int(pos[0] == last_row or pos[1] == last_column))

    best: dict[Node, tuple[int, int]] = {node: (0, 0) for node in side_a}
    came: dict[Node, tuple[Node, Position]] = {}
    queue = [(0, 0, node) for node in sorted(side_a)]
    heapq.heapify(queue)
    while queue:
        value, totals, node = heapq.heappop(queue)
        if (value, totals) > best.get(node, (value, totals)):
            continue
        if node in side_b:
            chain = []
            while node not in side_a:
                node, pos = came[node]
                chain.append(pos)
            return chain
        for other, pos in links.get(node, ()):
            step = cost(pos)
            reach = (value + step[0], totals + step[1])
            if other not in best or reach < best[other]:
                best[other] = reach
                came[other] = (node, pos)
                heapq.heappush(queue, (reach[0], reach[1], other))
    return []


def recoverable_by_subtraction(table: Table, hidden: set[Position]) -> set[Position]:
    """Hidden entries that one visible sum gives away (a line with one hidden entry in it).

    The check a reader can do by hand: total minus the visible cells of its row or column
    (or the sum of a line's cells when only its total is hidden). ``suppress`` leaves none.
    """
    entries = table.entries()
    rows, columns = _nodes(table)
    lines: dict[Node, list[Position]] = defaultdict(list)
    for pos in entries:
        a, b = _ends(pos, rows, columns)
        for node in (a, b):
            if node != _FREE:
                lines[node].append(pos)
    found: set[Position] = set()
    for members in lines.values():
        inside = [pos for pos in members if pos in hidden]
        if len(inside) == 1:
            found.add(inside[0])
    return found
