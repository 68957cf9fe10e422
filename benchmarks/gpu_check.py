"""The CUDA path end to end, in one command for a person with a GPU (a few minutes on one card).

Checks, in order, each printed as it finishes:

1. every registered model trains ``--epochs`` epochs on ``--dataset`` on the CPU and on the GPU
   with the same seed; their test Recall@20 and NDCG@20 must agree within the tolerance below;
2. ``--resume`` after a SIGKILL: a LightGCN run on the GPU is killed once its first checkpoint
   exists, resumed with ``--resume``, and must finish with every epoch run;
3. ``mmbench tune --gpus 0,0``: two workers on GPU 0 share one study, which must end with every
   trial finished or pruned;
4. ``mmbench run --jobs 2 --device cuda``: two runs at once, both complete.

Then a table of each model's median epoch time on the CPU and on the GPU.

Tolerance: the same seed gives the same initial weights and batches on both devices (both are
drawn on the CPU), but models that draw random numbers during training (dropout, Gumbel noise,
edge sampling) draw them from the device's own generator, and GPU sums are ordered differently.
A metric passes when |gpu - cpu| <= ``--rel-tol`` * cpu + ``--abs-tol``; the defaults (0.1 and
0.005 after 2 epochs) allow for that, and still catch a model that does not learn on the GPU or
scores the wrong items.

Without a CUDA GPU it refuses with one line and exit status 2. ``--device cpu`` runs the same
checks with the CPU in the GPU's place (``--workers 2`` for ``--gpus 0,0``), to test the script
itself on a machine without one.

    python benchmarks/gpu_check.py
    python benchmarks/gpu_check.py --models lightgcn,lattice --epochs 2
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from mmbench.data.loading import load_dataset
from mmbench.experiment import run_model
from mmbench.models.registry import default_registry
from mmbench.records import load_records

COMPARED = ("recall@20", "ndcg@20")


def refuse_without_gpu(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); run it "
            "on a machine with an NVIDIA GPU and a CUDA build of torch",
            file=sys.stderr,
        )
        raise SystemExit(2)


def mmbench(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "mmbench", *arguments]


def check_models(args: argparse.Namespace, root: Path) -> tuple[list[list[str]], bool]:
    """Step 1: each model on the CPU and on the GPU; rows of the timing table, and whether all agree."""
    dataset = load_dataset(args.dataset, warn=False)
    registry = default_registry()
    names = args.models.split(",") if args.models else registry.names()
    rows, passed = [], True
    for name in names:
        timings, metrics = {}, {}
        for label, device in (("cpu", "cpu"), ("gpu", args.device)):
            record = run_model(
                registry.get(name), dataset, args.seed, ["standard"], {"epochs": args.epochs},
                torch.device(device), root / label,
            )[0]
            timings[label] = record.data["timing"]["median_epoch_seconds"]
            metrics[label] = {key: record.test_metric(key) for key in COMPARED}
        agree = all(
            abs(metrics["gpu"][key] - metrics["cpu"][key]) <= args.rel_tol * metrics["cpu"][key] + args.abs_tol
            for key in COMPARED
        )
        passed &= agree
        shown = ", ".join(f"{key} cpu {metrics['cpu'][key]:.4f} {args.device} {metrics['gpu'][key]:.4f}" for key in COMPARED)
        print(f"[{'ok' if agree else 'FAIL'}] {name}: {shown}", flush=True)
        rows.append([name, timings["cpu"], timings["gpu"]])
    return rows, passed


def check_resume_after_kill(args: argparse.Namespace, root: Path) -> bool:
    """Step 2: kill a GPU run once it has a checkpoint, resume it, and check that it completes."""
    epochs = max(args.epochs, 4)
    command = mmbench(
        "run", "--models", "lightgcn", "--dataset", args.dataset, "--epochs", str(epochs),
        "--device", args.device, "--results", str(root),
    )
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None and not list(root.glob("runs/*/*/*/checkpoint.pt")):
        time.sleep(0.2)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    records = load_records(root)
    complete = resumed.returncode == 0 and len(records) == 1 and records[0].data.get("epochs_run") == epochs
    detail = "killed after its first checkpoint" if killed else "finished before it could be killed"
    print(f"[{'ok' if complete else 'FAIL'}] resume: a lightgcn run {detail}, resumed to {epochs} epochs", flush=True)
    if not complete:
        print(resumed.stderr[-2000:], file=sys.stderr)
    return complete


def check_tune_two_workers(args: argparse.Namespace, root: Path) -> bool:
    """Step 3: two tuning workers on GPU 0 fill one study."""
    trials = 4
    workers = ["--gpus", "0,0"] if args.device == "cuda" else ["--workers", "2"]
    result = subprocess.run(
        mmbench(
            "tune", "--model", "lightgcn", "--dataset", args.dataset, "--trials", str(trials),
            "--epochs", str(args.epochs), *workers, "--results", str(root),
        ),
        capture_output=True, text=True,
    )
    import optuna

    finished = 0
    if result.returncode == 0:
        study = optuna.load_study(study_name=f"lightgcn-{args.dataset}", storage=f"sqlite:///{root / 'tuning.db'}")
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        finished = sum(trial.state in done for trial in study.trials)
    ok = finished >= trials
    print(f"[{'ok' if ok else 'FAIL'}] tune {' '.join(workers)}: {finished} of {trials} trials finished", flush=True)
    if not ok:
        print(result.stderr[-2000:], file=sys.stderr)
    return ok


def check_parallel_runs(args: argparse.Namespace, root: Path) -> bool:
    """Step 4: two runs at once on the GPU."""
    result = subprocess.run(
        mmbench(
            "run", "--models", "mf_bpr,lightgcn", "--dataset", args.dataset, "--epochs", str(args.epochs),
            "--jobs", "2", "--device", args.device, "--results", str(root),
        ),
        capture_output=True, text=True,
    )
    complete = len(load_records(root))
    ok = result.returncode == 0 and complete == 2
    print(f"[{'ok' if ok else 'FAIL'}] run --jobs 2 --device {args.device}: {complete} of 2 runs complete", flush=True)
    if not ok:
        print(result.stderr[-2000:], file=sys.stderr)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--models", default="", help="comma-separated models (default: every registered one)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rel-tol", type=float, default=0.1)
    parser.add_argument("--abs-tol", type=float, default=0.005)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: check the script itself")
    args = parser.parse_args()
    refuse_without_gpu(args.device)
    from tabulate import tabulate

    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "the CPU (a check of the script)"
    print(f"gpu_check on {where}, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        rows, passed = check_models(args, root / "models")
        passed &= check_resume_after_kill(args, root / "resume")
        passed &= check_tune_two_workers(args, root / "tune")
        passed &= check_parallel_runs(args, root / "jobs")
    table = [[name, f"{cpu:.3f}", f"{gpu:.3f}", f"{cpu / gpu:.1f}x"] for name, cpu, gpu in rows]
    headers = ["model", "cpu epoch (s)", f"{args.device} epoch (s)", "speed-up"]
    print(tabulate(table, headers=headers, tablefmt="github"))
    print("all checks passed" if passed else "some checks FAILED")
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()
