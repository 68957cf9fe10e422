"""Leaderboard tables as text: Markdown, LaTeX, HTML and CSV.

Every format shows the same content: per table a heading naming the dataset, protocol and split;
one row per configuration with the run count, mean ± std per metric (the best mean of each column
in bold) and the p-value of the best row against it; then a note saying which test gave the
p-values. CSV is for machines: one line per row, full precision, no marking.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import math
from typing import Callable, Sequence

from tabulate import tabulate

from mmbench.report.significance import TEST_NAMES, format_p
from mmbench.report.table import Table

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def heading(table: Table) -> str:
    """What a table shows, in words."""
    return f"{table.dataset} — protocol `{table.protocol}` — test split, mean ± std over seeds (a single run: its value)"


def note(table: Table) -> str | None:
    """How the p-values were obtained, or None when the table has none."""
    if not table.p_values:
        return None
    metric = table.metrics[0]
    counts = sorted({r.n_users for r in table.p_values.values() if r is not None})
    users = "" if not counts else f" ({counts[0]}" + (f"–{counts[-1]}" if len(counts) > 1 else "") + " users)"
    which = f"the best row by {metric}" if table.reference_is_best else "the chosen reference row"
    text = (
        f"p: two-sided {TEST_NAMES[table.test]} of {which} ({table.reference.label}) "
        f"against each other row, over the test users both share{users}, paired by user id; each "
        f"user's {metric} is averaged over the seeds both rows ran (when they share none, over as many "
        f"of each row's seeds as the smaller row has). Not adjusted for multiple comparisons."
    )
    if any(r is None for r in table.p_values.values()):
        text += f" n/a: a run of the pair has no per-user {metric} stored."
    return text


def _grid(
    table: Table, bold: Callable[[str], str], pm: str, escape: Callable[[str], str]
) -> tuple[list[str], list[list[str]]]:
    """Headers and cell texts of ``table`` with format-specific bold, ± sign and escaping."""
    headers = ["model", "runs", *table.metrics]
    if table.p_values:
        headers.append(f"p ({table.metrics[0]})")
    rows = []
    for row in table.rows:
        cells = [escape(row.label), str(row.runs)]
        for metric in table.metrics:
            text = row.value_text(metric, pm)
            cells.append(bold(text) if table.is_best(row, metric) else text)
        if table.p_values:
            result = table.p_values.get(row.label)
            if row is table.reference:
                cells.append("best" if table.reference_is_best else "reference")
            else:
                cells.append(format_p(result.p_value) if result else "n/a")
        rows.append(cells)
    return [escape(h) for h in headers], rows


def _align(headers: Sequence[str]) -> tuple[str, ...]:
    """Left-aligned labels, right-aligned counts, centred values."""
    return ("left", "right") + ("center",) * (len(headers) - 2)


def _tables(
    tables: Sequence[Table],
    tablefmt: str,
    bold: Callable[[str], str],
    pm: str,
    escape: Callable[[str], str],
    compose: Callable[[Table, str, str | None], str],
    separator: str,
) -> str:
    """Each table as ``compose(table, tabulated body, note)``, joined by ``separator``."""
    parts = []
    for table in tables:
        headers, rows = _grid(table, bold, pm, escape)
        body = tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True, colalign=_align(headers))
        parts.append(compose(table, body, note(table)))
    return separator.join(parts)


def markdown(tables: Sequence[Table]) -> str:
    def compose(table: Table, body: str, text: str | None) -> str:
        return f"### {heading(table)}\n\n{body}" + (f"\n\n{text}" if text else "")

    return _tables(tables, "github", lambda text: f"**{text}**", "±", lambda text: text, compose, "\n\n")


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def latex(tables: Sequence[Table]) -> str:
    """One ``table`` environment per table, the heading and note as its caption."""

    def compose(table: Table, body: str, text: str | None) -> str:
        caption = _latex_escape(heading(table).replace("`", "")).replace("±", r"$\pm$")
        caption += f". {_latex_escape(text)}" if text else ""
        return f"\\begin{{table}}\n\\centering\n{body}\n\\caption{{{caption}}}\n\\end{{table}}"

    return _tables(tables, "latex_raw", lambda text: rf"\textbf{{{text}}}", r"$\pm$", _latex_escape, compose, "\n\n")


def html(tables: Sequence[Table]) -> str:
    def compose(table: Table, body: str, text: str | None) -> str:
        part = f"<h3>{html_lib.escape(heading(table))}</h3>\n{body}"
        return part + (f"\n<p>{html_lib.escape(text)}</p>" if text else "")

    return _tables(tables, "unsafehtml", lambda text: f"<b>{text}</b>", "±", html_lib.escape, compose, "\n")


def csv_text(tables: Sequence[Table]) -> str:
    """One CSV line per row; with p-values, the columns ``p_value``, ``test``, ``test_metric``."""
    with_tests = any(table.test for table in tables)
    metrics = tables[0].metrics if tables else ()
    header = ["dataset", "protocol", "model", "runs", "seeds"]
    for metric in metrics:
        header += [metric, f"{metric}_std"]
    if with_tests:
        header += ["p_value", "test", "test_metric", "reference"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for table in tables:
        for row in table.rows:
            line = [table.dataset, table.protocol, row.label, row.runs, " ".join(map(str, row.seeds))]
            for metric in metrics:
                spread = row.spread(metric)
                line += [f"{row.means[metric]:.6f}", "" if math.isnan(spread) else f"{spread:.6f}"]
            if with_tests:
                result = table.p_values.get(row.label)
                p_value = "" if result is None else repr(result.p_value)
                line += [p_value, table.test or "", metrics[0], table.reference.label]
            writer.writerow(line)
    return buffer.getvalue()
