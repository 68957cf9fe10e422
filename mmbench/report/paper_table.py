"""The MMSSL paper's main table, row for row, next to ours: do the published rankings hold?

For one dataset, each of the paper's rows (in its order) is matched with our runs of the same
model as declared (protocol ``lattice``, no command-line overrides, not tuned, default feature
sets). The section shows both rankings by Recall@20, their rank correlations over the rows both
have, and every pair of rows whose order flips between the paper and us, with the paired test of
our two rows, so that a flip within noise reads differently from a real one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from tabulate import tabulate

from mmbench.records import RunRecord
from mmbench.report.leaderboard import as_declared, summarise, variant
from mmbench.report.published import MMSSL_TABLE, MMSSL_TABLE_ROWS, held_against, lookup
from mmbench.report.significance import compare_rows, format_p, load_user_values
from mmbench.report.table import Row

RANKED = "recall@20"
SHOWN = ("recall@20", "ndcg@20")
PROTOCOL = "lattice"


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's table: its printed name, our plugin, the published cells and ours."""

    name: str
    model: str
    published: dict[str, float]
    ours: Row | None


def paper_rows(records: Sequence[RunRecord], dataset: str, models: Sequence[str] | None = None) -> list[PaperRow]:
    """The paper's rows on ``dataset`` (only ``models`` when given), each with our as-declared runs."""
    rows = []
    for name, model in MMSSL_TABLE_ROWS:
        if models is not None and model not in models:
            continue
        published = lookup(model, dataset)
        if published is None:
            continue
        rows.append(PaperRow(name, model, published.metrics, declared_row(records, model, dataset)))
    return rows


def declared_row(records: Sequence[RunRecord], model: str, dataset: str) -> Row | None:
    """Our runs of ``model`` on ``dataset`` as declared, under ``lattice``, as one row (None: no runs)."""
    runs = [
        r
        for r in records
        if r.model == model and r.dataset == dataset and r.protocol == PROTOCOL and variant(r) is None and as_declared(r)
    ]
    return summarise(runs, SHOWN)[0] if runs else None


def ranks(values: Sequence[float]) -> list[int]:
    """1 for the highest value, 2 for the next...; ties share the better rank."""
    return [1 + sum(other > value for other in values) for value in values]


def paper_table_section(records: Sequence[RunRecord], dataset: str, models: Sequence[str] | None = None) -> list[str]:
    """Markdown lines of the row-for-row table on ``dataset``; empty when no paper row has runs."""
    rows = paper_rows(records, dataset, models)
    compared = [row for row in rows if row.ours is not None]
    if not compared:
        return []
    published_rank = dict(zip((r.model for r in rows), ranks([r.published[RANKED] for r in rows])))
    our_rank = dict(zip((r.model for r in compared), ranks([r.ours.means[RANKED] for r in compared])))
    table = []
    for row in rows:
        cells = [row.name, f"`{row.model}`", str(published_rank[row.model])]
        cells += [f"{row.published[m]:.4f}" for m in SHOWN]
        if row.ours is None:
            cells += ["—", "not run", "—", "—"]
        else:
            cells += [str(our_rank[row.model]), row.ours.value_text(RANKED), row.ours.value_text("ndcg@20")]
            cells.append(f"{row.ours.means[RANKED] / row.published[RANKED]:.2f}")
        cells.insert(3, str(row.ours.runs) if row.ours else "0")
        table.append(cells)
    headers = ["paper row", "plugin", "published rank", "runs", "published R@20", "published N@20",
               "our rank", "ours R@20", "ours N@20", "R@20 ratio"]
    lines = [
        f"## The MMSSL paper's main table on {dataset}, row for row",
        "",
        f"Published: {MMSSL_TABLE}, in the paper's row order. Ours: protocol `{PROTOCOL}`, each model "
        "as declared, mean ± std over seeds. Ranks by Recall@20 (1 = best); ours rank only the rows "
        "that have runs.",
        "",
        tabulate(table, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ]
    for row in rows:
        for other in held_against(row.model):
            if (extra := declared_row(records, other, dataset)) is not None:
                lines += [
                    f"`{other}` is held against the {row.name} row too, outside the ranking: R@20 "
                    f"{extra.value_text(RANKED)}, N@20 {extra.value_text('ndcg@20')} ({extra.runs} runs).",
                    "",
                ]
    lines += _agreement_lines(compared)
    return lines


def _agreement_lines(compared: Sequence[PaperRow]) -> list[str]:
    """The rank correlations over the rows both tables have, and each flipped pair with its test."""
    if len(compared) < 3:
        return [f"Only {len(compared)} of the rows have runs: too few for a rank correlation.", ""]
    from scipy import stats

    published = [row.published[RANKED] for row in compared]
    ours = [row.ours.means[RANKED] for row in compared]
    spearman = stats.spearmanr(published, ours)
    kendall = stats.kendalltau(published, ours)
    lines = [
        f"Agreement of the two rankings over the {len(compared)} rows with runs: Spearman's rho "
        f"{spearman.statistic:.2f} (p = {format_p(float(spearman.pvalue))}), Kendall's tau "
        f"{kendall.statistic:.2f} (p = {format_p(float(kendall.pvalue))}).",
        "",
    ]
    values = load_user_values([r for row in compared for r in row.ours.records], RANKED)
    flips = []
    for a, b in combinations(compared, 2):
        published_order = a.published[RANKED] - b.published[RANKED]
        our_order = a.ours.means[RANKED] - b.ours.means[RANKED]
        if published_order * our_order >= 0:
            continue
        winner, loser = (a, b) if our_order > 0 else (b, a)
        result = compare_rows(winner.ours.records, loser.ours.records, values)
        p_text = format_p(result.p_value) if result else "n/a (no per-user values)"
        flips.append([
            f"{winner.name} over {loser.name}",
            f"{winner.published[RANKED]:.4f} < {loser.published[RANKED]:.4f}",
            f"{winner.ours.means[RANKED]:.4f} > {loser.ours.means[RANKED]:.4f}",
            p_text,
        ])
    if not flips:
        return lines + ["No pair of rows changes order between the paper and our runs.", ""]
    headers = ["our order", "published R@20", "ours R@20", "p (ours, recall@20)"]
    return lines + [
        f"Pairs whose order flips ({len(flips)} of {math.comb(len(compared), 2)}). p: two-sided "
        "Wilcoxon signed-rank test of our two rows over their shared test users, per-user "
        "Recall@20 averaged over matched seeds (as in the leaderboards); a large p means our "
        "runs cannot tell the two apart, whatever their order.",
        "",
        tabulate(flips, headers=headers, tablefmt="github", disable_numparse=True),
        "",
    ]
