"""Every registered model follows ``model.to(device)`` and runs where torch allows it off the CPU.

This machine has no GPU; torch's ``meta`` device stands in for one. Every parameter and buffer
must move with the model, and a loss or score pass on ``meta`` either runs with every output on
``meta`` or stops only because torch has no ``meta`` kernel for an operator it needs: sparse CSR
products (every graph model) and ``bincount`` (MMSSL's batch bookkeeping). A tensor left on the
CPU would fail differently, with torch's "Expected all tensors to be on the same device".
"""

from __future__ import annotations

import pytest
import torch

from mmbench.models import BprBatch, default_registry
from synthetic import tiny_dataset

META = torch.device("meta")
# Models whose loss and score run entirely on ``meta``: no sparse product, no bincount.
RUNS_ON_META = {"mf_bpr", "vbpr"}


def moved_model(name: str) -> torch.nn.Module:
    cls = default_registry().get(name)
    config = cls.config_for("tiny", {"batch_size": "16"})
    torch.manual_seed(0)
    return cls(tiny_dataset(audio_dim=5).train_view(), config).to(META)


def run_or_missing_kernel(step) -> object:
    """``step()``'s result, or None when it stopped on an operator without a ``meta`` kernel."""
    try:
        return step()
    except NotImplementedError as error:
        message = str(error)
        assert "Meta" in message or "meta" in message, message
        return None


@pytest.mark.parametrize("name", default_registry().names())
def test_every_parameter_and_buffer_follows_the_model(name: str) -> None:
    model = moved_model(name)
    stray = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device != META]
    assert stray == []


@pytest.mark.parametrize("name", default_registry().names())
def test_loss_and_score_stay_on_the_device(name: str) -> None:
    model = moved_model(name)
    batch = BprBatch(*(torch.tensor(ids, device=META) for ids in ([0, 1, 2], [3, 4, 5], [6, 7, 8])))
    model.train()
    parts = run_or_missing_kernel(lambda: model.loss(batch))
    model.eval()
    with torch.no_grad():
        scores = run_or_missing_kernel(lambda: model.score(torch.tensor([0, 1], device=META)))
    if name in RUNS_ON_META:
        assert parts is not None and all(value.device == META for value in parts.values())
        assert scores is not None and scores.device == META and scores.shape == (2, 60)
    else:
        assert parts is None or all(value.device == META for value in parts.values())
