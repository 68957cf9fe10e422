"""Every model against fixed reference models, with paired tests: the question a reader of a
leaderboard asks of a new model ("does it beat LATTICE? LightGCN?"), which the leaderboard's own
p-values (the best row against each other row) do not answer.

One table per (dataset, protocol): each model run as declared (its defaults, no variant, no
override, no sweep point; :func:`~mmbench.report.leaderboard.as_declared`) with its mean, and for each reference
model present the difference of means and the two-sided paired test over test users
(:func:`~mmbench.report.significance.compare_rows`, matched seeds).
"""

from __future__ import annotations

import math
from typing import Sequence

from tabulate import tabulate

from mmbench.records import RunRecord
from mmbench.report.leaderboard import as_declared, group_records, summarise, variant, without_sweeps
from mmbench.report.significance import TEST_NAMES, PairedResult, compare_rows, format_p, load_user_values
from mmbench.report.table import Row

REFERENCE_MODELS = ("lattice", "lightgcn")


def _cell(row: Row, reference: Row, metric: str, result: PairedResult | None) -> str:
    """``+0.0123 (p 0.004)``: the row's mean minus the reference's, and the test's p-value."""
    difference = row.means[metric] - reference.means[metric]
    if math.isnan(difference):
        return "n/a"
    p_text = "no per-user values" if result is None else f"p {format_p(result.p_value)}"
    return f"{difference:+.4f} ({p_text})"


def render_reference_tests(
    records: Sequence[RunRecord],
    metric: str = "recall@20",
    references: Sequence[str] = REFERENCE_MODELS,
    test: str = "wilcoxon",
) -> str:
    """Markdown tables of each declared model against each of ``references`` on ``metric``; empty
    when no (dataset, protocol) group holds a reference model and another model."""
    declared = [r for r in without_sweeps(records) if as_declared(r) and variant(r) is None]
    sections = []
    for (dataset, protocol), group in group_records(declared).items():
        rows = summarise(group, [metric])
        by_label = {row.label: row for row in rows}
        chosen = [by_label[name] for name in references if name in by_label]
        others = [row for row in rows if row.label not in references]
        if not chosen or not others:
            continue
        values = load_user_values(group, metric)
        table = [
            [row.label, len(row.records), row.value_text(metric)]
            + [_cell(row, ref, metric, compare_rows(row.records, ref.records, values, test)) for ref in chosen]
            for row in others
        ]
        headers = ["model", "runs", metric] + [f"minus {ref.label} ({ref.value_text(metric)})" for ref in chosen]
        sections.append(
            f"### {dataset}, protocol `{protocol}`\n\n"
            + tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)
        )
    if not sections:
        return ""
    return (
        "\n\n".join(sections)
        + f"\n\nEach cell: the model's mean {metric} minus the reference's, and the two-sided "
        f"{TEST_NAMES[test]} of the two over the test users both evaluated, each user's value averaged "
        "over the seeds both ran. Models on their defaults only. Not adjusted for multiple comparisons."
    )
