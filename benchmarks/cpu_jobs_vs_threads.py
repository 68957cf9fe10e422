"""CPU throughput of training: one process with all the cores' threads, or one process per core.

This is the measurement behind ``--jobs``: on a machine with C cores, C runs with one thread
each against one run with C threads. Each process builds the model (TikTok preset), trains one
warm-up step, waits at a barrier until every process of the configuration is ready, then times
``--steps`` training steps on the same batches. Throughput is steps per second of wall time:
``steps / time`` for the single process, ``C * steps / slowest time`` for the C processes. The
script prints the median over ``--repeats`` of each, the per-step times and the ratio.

    python benchmarks/cpu_jobs_vs_threads.py --cores 2 --steps 4 --repeats 3

Run it on an otherwise idle machine: another job on a core distorts both configurations.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import numpy as np
import torch

from mmbench.data.loading import load_dataset
from mmbench.models.base import BprBatch
from mmbench.models.registry import default_registry
from mmbench.training.sampler import BprSampler
from mmbench.training.trainer import build_optimizer


def timed_steps(model_name: str, dataset_name: str, threads: int, steps: int, barrier, results) -> None:
    """One process: warm up, wait for the others, time ``steps`` training steps."""
    torch.set_num_threads(threads)
    dataset = load_dataset(dataset_name, warn=False)
    cls = default_registry().get(model_name)
    config = cls.config_for(dataset.name)
    sampler = BprSampler(dataset.train, config.batch_size, np.random.default_rng(0), config.sampling)
    batches = [
        BprBatch(*(torch.from_numpy(a) for a in arrays)) for _, arrays in zip(range(steps + 1), sampler.epoch())
    ]
    torch.manual_seed(0)
    model = cls(dataset.train_view(), config)
    optimizer = build_optimizer(model, config)
    model.train()
    model.train_step(batches[0], optimizer)
    barrier.wait()
    started = time.perf_counter()
    for batch in batches[1:]:
        model.train_step(batch, optimizer)
    results.put(time.perf_counter() - started)


def configuration(args: argparse.Namespace, processes: int, threads: int) -> float:
    """Seconds of wall time for ``steps`` steps in each of ``processes`` processes (the slowest)."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=timed_steps, args=(args.model, args.dataset, threads, args.steps, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    times = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"a benchmark process failed (exit code {worker.exitcode})")
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mmssl")
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--cores", type=int, default=2, help="cores to compare over (default 2)")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per process (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per configuration (default 3)")
    args = parser.parse_args()
    threaded, separate = [], []
    for _ in range(args.repeats):
        threaded.append(configuration(args, processes=1, threads=args.cores))
        separate.append(configuration(args, processes=args.cores, threads=1))
    one = args.steps / statistics.median(threaded)
    many = args.cores * args.steps / statistics.median(separate)
    print(
        f"{args.model} on {args.dataset}, {args.steps} steps per process, {args.repeats} repeats:\n"
        f"  1 process x {args.cores} threads: median {statistics.median(threaded) / args.steps:.2f} s per step "
        f"({one:.3f} steps/s); runs: {', '.join(f'{t:.1f}' for t in threaded)} s\n"
        f"  {args.cores} processes x 1 thread: median {statistics.median(separate) / args.steps:.2f} s per step "
        f"in each ({many:.3f} steps/s together); runs: {', '.join(f'{t:.1f}' for t in separate)} s\n"
        f"  throughput of {args.cores} single-threaded processes vs one {args.cores}-threaded one: {many / one:.2f}x"
    )


if __name__ == "__main__":
    main()
