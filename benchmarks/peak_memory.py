"""Peak resident memory of a short training run of each model, each in a fresh process.

Each model trains ``--epochs`` epochs on ``--dataset`` (evaluated on validation, then tested once)
in its own ``mmbench run`` subprocess, and the script reads that child's peak resident set size
from the operating system (``getrusage(RUSAGE_CHILDREN)`` after it exits). A full default run
peaks at about the same size: the graphs, features and embeddings are built before the first
epoch, and later epochs allocate nothing that outlives them. Records go to a temporary folder.

    python benchmarks/peak_memory.py --dataset tiktok --models lattice,freedom,bm3 --epochs 2
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile


def peak_rss_mib(command: list[str]) -> float:
    """Peak RSS of the process that runs ``command`` (MiB), measured after it exits.

    ``RUSAGE_CHILDREN`` reports the largest peak among all the children waited for, so each
    measurement runs in a fresh interpreter of its own that starts only this one child (see
    :func:`main`).
    """
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        with tempfile.TemporaryDirectory() as folder:
            command = [
                sys.executable, "-m", "mmbench", "run", "--models", args.measure, "--dataset", args.dataset,
                "--epochs", str(args.epochs), "--threads", str(args.threads), "--results", folder,
            ]
            print(f"{peak_rss_mib(command):.0f}")
        return
    print(f"peak RSS of `mmbench run --dataset {args.dataset} --epochs {args.epochs}`, one fresh process per model")
    for model in args.models.split(","):
        # A fresh parent per model: RUSAGE_CHILDREN would otherwise keep the largest child so far.
        result = subprocess.run(
            [sys.executable, __file__, "--dataset", args.dataset, "--epochs", str(args.epochs),
             "--threads", str(args.threads), "--models", model, "--measure", model],
            check=True, capture_output=True, text=True,
        )
        print(f"{model:16s} {result.stdout.strip():>6s} MiB", flush=True)


if __name__ == "__main__":
    main()
