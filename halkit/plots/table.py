"""A small table that reads well in a notebook (HTML), a terminal (fixed-width text) and an ipywidgets.HTML."""
from __future__ import annotations

import html


class Table:
    """Rows of already formatted cells under a header, with optional notes printed above the table.

    ``numeric`` names the columns aligned right (numbers line up); the others are aligned left.
    """

    def __init__(self, columns, rows, notes=(), numeric=()):
        self.columns = [str(c) for c in columns]
        self.rows = [[str(c) for c in row] for row in rows]
        self.notes = [str(n) for n in notes]
        self.numeric = set(numeric)
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"row {row} has {len(row)} cells, the header has {len(self.columns)}")

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        widths = [max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]

        def line(cells):
            return "  ".join(c.rjust(w) if name in self.numeric else c.ljust(w)
                             for c, w, name in zip(cells, widths, self.columns)).rstrip()

        head = line(self.columns)
        return "\n".join([*self.notes, head, "-" * len(head), *(line(r) for r in self.rows)])

    def __repr__(self) -> str:
        return str(self)

    def html(self) -> str:
        def cells(tag, values):
            return "".join(f"<{tag} style='text-align:{'right' if name in self.numeric else 'left'}'>"
                           f"{html.escape(v)}</{tag}>" for v, name in zip(values, self.columns))

        notes = "".join(f"<p style='font-size:90%;margin:2px 0'>{html.escape(n)}</p>" for n in self.notes)
        body = "".join(f"<tr>{cells('td', r)}</tr>" for r in self.rows)
        return f"{notes}<table><thead><tr>{cells('th', self.columns)}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.html()
