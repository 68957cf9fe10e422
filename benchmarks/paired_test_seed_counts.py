"""How often the leaderboard's paired test calls one model different from itself, when one row
has two seeds and the other three: averaging each row over all its seeds (the rule before
mmbench paired rows over their shared seeds) against averaging both over the shared seeds.

Each case draws per-user hit chances from Beta(0.3, 3), then independent 0/1 hits per seed, the
same chances for both rows: any rejection is a false positive, so a sound test rejects about
``alpha`` of the cases.

    python benchmarks/paired_test_seed_counts.py --cases 200 --users 3000
"""

from __future__ import annotations

import argparse

import numpy as np

from mmbench.report.significance import paired_test, user_metric


def rejection_rates(cases: int, users: int, alpha: float, seed: int) -> dict[str, float]:
    """The share of cases with p < ``alpha`` under each averaging rule."""
    rng = np.random.default_rng(seed)
    ids = np.arange(users)
    rejected = {"all seeds (2 against 3)": 0, "shared seeds (2 against 2)": 0}
    for _ in range(cases):
        chance = rng.beta(0.3, 3.0, users)
        two = [(ids, (rng.random(users) < chance).astype(np.float64)) for _ in range(2)]
        three = [(ids, (rng.random(users) < chance).astype(np.float64)) for _ in range(3)]
        reference = user_metric(two)
        rejected["all seeds (2 against 3)"] += paired_test(reference, user_metric(three)).p_value < alpha
        rejected["shared seeds (2 against 2)"] += paired_test(reference, user_metric(three[:2])).p_value < alpha
    return {rule: count / cases for rule, count in rejected.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rates = rejection_rates(args.cases, args.users, args.alpha, args.seed)
    print(f"Wilcoxon signed-rank, one model against itself, {args.cases} cases of {args.users} users:")
    for rule, rate in rates.items():
        print(f"  {rule}: rejected at {args.alpha} in {rate:.1%} of cases")


if __name__ == "__main__":
    main()
