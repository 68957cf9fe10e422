"""Size of a run's checkpoint files: ``checkpoint.pt`` (written at every evaluation) and ``best.pt``
(written only when the validation metric improves), for one model on one shipped dataset.

The checkpoint holds the current model, its optimiser, the loop state and the random-generator
states; the best state so far lives in ``best.pt`` beside it, so the checkpoint holds one copy of
the model, not two. The script trains ``--steps`` batches (so that the optimiser has its state),
writes both files as a run would, and prints their sizes.

    python benchmarks/checkpoint_size.py --model mmssl --dataset tiktok --steps 2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from mmbench.data.loading import load_dataset
from mmbench.models.registry import default_registry
from mmbench.training.trainer import Trainer, _cpu_state, _LoopState, best_state_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mmssl")
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, warn=False)
    cls = default_registry().get(args.model)
    config = cls.config_for(dataset.name)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "checkpoint.pt"
        trainer = Trainer(cls(dataset.train_view(), config), dataset, config, "standard", torch.device("cpu"), 1, checkpoint)
        for _, (users, pos, neg) in zip(range(args.steps), trainer.sampler.epoch()):
            trainer.model.train_step(trainer._batch(users, pos, neg), trainer.optimizer)
        state = _LoopState(epoch=1, best_state=_cpu_state(trainer.model))
        trainer._save_checkpoint(state)
        trainer._save_best(state.best_state)
        sizes = {path.name: path.stat().st_size / 2**20 for path in (checkpoint, best_state_path(checkpoint))}
    print(f"{args.model} on {args.dataset}: " + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in sizes.items()))


if __name__ == "__main__":
    main()
