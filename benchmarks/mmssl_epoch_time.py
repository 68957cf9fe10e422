"""One MMSSL training epoch on the shipped TikTok data: this checkout against another checkout.

Issue 30 moved MMSSL's generated-graph rebuild into torch and kept the loss parts on the device;
this measures what that did to a CPU epoch. ``--reference DIR`` is a checkout of the code to
compare with (for example ``git worktree add /tmp/before 1b55b04``). Each round trains one epoch
with each checkout, in a fresh subprocess each (the order alternates between rounds, so that a
machine getting busier or quieter does not favour one side), and the script prints every epoch's
seconds, the median per checkout and the ratio reference / this (above 1: this checkout is faster).

The epoch is the trainer's own (``Trainer._train_epoch``: sampling, the critic and model steps,
the graph updates) with the TikTok preset, seed 1, no evaluation.

    python benchmarks/mmssl_epoch_time.py --reference /tmp/before --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

DRIVER = """
import json, time, torch
torch.set_num_threads({threads})
from mmbench.data.loading import load_dataset
from mmbench.models.registry import default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
dataset = load_dataset("tiktok", warn=False)
cls = default_registry().get("{model}")
config = cls.config_for("tiktok")
seed_everything(1)
trainer = Trainer(cls(dataset.train_view(), config), dataset, config, "lattice", torch.device("cpu"), 1)
started = time.perf_counter()
trainer._train_epoch(1)
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""


def one_epoch(tree: Path, model: str, threads: int) -> float:
    """Seconds of one epoch trained by the code in ``tree``, in a fresh interpreter."""
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    code = DRIVER.format(threads=threads, model=model)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--model", default="mmssl")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    trees = {"reference": args.reference.resolve(), "this": here}
    times: dict[str, list[float]] = {"reference": [], "this": []}
    for round_index in range(args.rounds):
        order = ["reference", "this"] if round_index % 2 == 0 else ["this", "reference"]
        for name in order:
            seconds = one_epoch(trees[name], args.model, args.threads)
            times[name].append(seconds)
            print(f"round {round_index + 1}: {name:9s} {seconds:7.2f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"{args.model} TikTok epoch, {args.threads} threads, median of {args.rounds}: reference "
        f"{medians['reference']:.2f} s, this {medians['this']:.2f} s, "
        f"ratio reference/this {medians['reference'] / medians['this']:.2f}"
    )


if __name__ == "__main__":
    main()
