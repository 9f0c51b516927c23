"""Export files (crm_core/services/export.py gives the rows): CSV in UTF-8 with a BOM (Excel reads
the Chinese right), xlsx through openpyxl's write-only workbook, both written as the rows come.
Pure of the database.

Formula injection: a spreadsheet runs a cell that starts with = + - @ (a tab or a carriage
return, and their full-width forms, which some spreadsheets read alike) as a formula, so such a
text gets a leading apostrophe in CSV (`'=HYPERLINK(…)`: shown as text). A value made only of
digits, spaces, dashes, brackets, dots and mask stars after its + or - is left as it is: it
names no function, cell or program (at worst a spreadsheet does sums with it), and a foreign
phone `+447911123456` or its mask `+447****3456` must come out as the number people dial. In
xlsx every text is a string cell (never a formula) with Excel's quote prefix, so nothing is
added to the value and phones stay text."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

Cell = str | int | float | None
BOM = "\ufeff"
FORMULA_START = frozenset("=+-@\t\r＝＋－＠")
# + or - then only what a phone number or a figure is written with
PLAIN_SIGNED = re.compile(r"[+\-＋－][\d ()\-*.]*\d[\d ()\-*.]*")
CSV_CHUNK_ROWS = 500          # rows per piece of a streamed CSV


def safe_text(text: str) -> str:
    """`text` as a CSV cell that no spreadsheet runs as a formula."""
    if text[:1] in FORMULA_START and not PLAIN_SIGNED.fullmatch(text):
        return "'" + text
    return text


def safe_cell(value: Cell) -> Cell:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return safe_text(str(value))


def csv_chunks(header: Iterable[str], rows: Iterable[Iterable[Cell]], chunk_rows: int | None = None) -> Iterator[bytes]:
    """The CSV file as UTF-8 pieces: the BOM and the header, then `chunk_rows` rows at a time."""
    chunk_rows = chunk_rows or CSV_CHUNK_ROWS
    buf = io.StringIO()
    out = csv.writer(buf)          # RFC 4180 quoting, CRLF line ends (what Excel writes)
    buf.write(BOM)
    out.writerow([safe_cell(h) for h in header])
    yield buf.getvalue().encode("utf-8")
    buf.seek(0)
    buf.truncate()
    pending = 0
    for row in rows:
        out.writerow([safe_cell(v) for v in row])
        pending += 1
        if pending >= chunk_rows:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
            pending = 0
    if pending:
        yield buf.getvalue().encode("utf-8")


def write_csv(target: IO[bytes], header: Iterable[str], rows: Iterable[Iterable[Cell]]) -> None:
    for piece in csv_chunks(header, rows):
        target.write(piece)


def write_xlsx(target: str | IO[bytes], sheet: str, header: Iterable[str], rows: Iterable[Iterable[Cell]]) -> None:
    """One sheet, the header row frozen; openpyxl's write-only mode keeps only the row being
    written in memory. Texts are string cells (never formulas), numbers numbers."""
    from openpyxl import Workbook                    # heavy (0.3 s); only xlsx exports need it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet)
    ws.freeze_panes = "A2"

    def cell(value: Cell) -> Any:
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return value
        text = ILLEGAL_CHARACTERS_RE.sub("", str(value))     # control characters xlsx cannot hold
        out = WriteOnlyCell(ws, value=text)
        out.data_type = "s"                   # text, even when it starts with = (openpyxl's formula sign)
        if text[:1] in FORMULA_START:
            out.quotePrefix = True            # and it stays text when someone edits the cell in Excel
        return out

    ws.append([cell(h) for h in header])
    for row in rows:
        ws.append([cell(v) for v in row])
    wb.save(target)
