"""``mmbench features text`` as one function: check everything, encode, fill, write, record.

The order is chosen so that a mistake costs nothing: the flags, the dataset folder, the
overwrite rule and the item table are all checked before the encoder is loaded, and nothing is
written before the features are made.
"""

from __future__ import annotations

import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmbench.errors import ConfigError, DataError
from mmbench.features.encoders import DEFAULT_ENCODER, get_spec
from mmbench.features.item_texts import read_item_texts
from mmbench.features.missing import check_policy, fill, rows_without_text
from mmbench.features.record import text_feature_record
from mmbench.features.target import check_modality, open_target, write_features
from mmbench.features.text_encoder import load_text_encoder
from mmbench.training.reproducibility import resolve_device

if TYPE_CHECKING:
    from tqdm import tqdm

DEFAULT_TEMPLATE = "{text}"
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class TextFeatureRequest:
    """What to make: the item table and its columns, the dataset folder, and how to encode."""

    items: Path
    id_column: str
    text_column: str
    out: str
    encoder: str = DEFAULT_ENCODER
    modality: str = "text"
    template: str = DEFAULT_TEMPLATE
    max_length: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = "auto"
    missing: str = "refuse"
    force: bool = False
    datasets_root: Path | None = None


@dataclass(frozen=True)
class TextFeatureResult:
    """What was written, its shape, and what the run cut and filled."""

    written: list[Path]
    shape: tuple[int, int]
    truncated: int
    filled: int
    seconds: float


def check_template(template: str) -> str:
    """``template`` if ``{text}`` is its one placeholder, else :class:`ConfigError`."""
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as error:
        raise ConfigError(f"--template {template!r} is not a valid template ({error}); write braces as {{{{ }}}}") from None
    if fields != {"text"}:
        raise ConfigError(f"--template {template!r} must hold {{text}} and no other placeholder")
    return template


def make_text_features(request: TextFeatureRequest) -> TextFeatureResult:
    """Make ``<modality>_feat.npy`` in the ``out`` dataset from the item table, and record how."""
    started = time.monotonic()
    check_policy(request.missing)
    check_template(request.template)
    check_modality(request.modality)
    if request.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {request.batch_size}")
    get_spec(request.encoder)
    device = resolve_device(request.device)
    target = open_target(request.out, request.datasets_root, request.modality, request.force)
    item_texts = read_item_texts(request.items, request.id_column, request.text_column, target.n_items)
    without_text = rows_without_text(item_texts, request.missing)
    encoder = load_text_encoder(request.encoder, device, request.max_length)
    with_text = np.setdiff1d(np.arange(target.n_items), without_text)
    texts = [request.template.format(text=item_texts.texts[item]) for item in with_text.tolist()]
    with _progress_bar(len(texts)) as bar:
        encoded = encoder.encode(texts, request.batch_size, on_batch=bar.update)
    truncated = int((encoded.token_counts > encoder.max_length).sum())
    values = np.zeros((target.n_items, encoder.dim), dtype=np.float32)
    values[with_text] = encoded.values
    values = fill(values, without_text, request.missing)
    if not np.isfinite(values).all():
        raise DataError(f"{request.encoder} gave non-finite values; nothing was written")
    record = text_feature_record(
        encoder, item_texts, request.template, truncated, request.missing, int(without_text.size)
    )
    written = write_features(target, request.modality, values, record)
    return TextFeatureResult(written, values.shape, truncated, int(without_text.size), time.monotonic() - started)


def _progress_bar(total: int) -> tqdm:
    """A bar over the items on a terminal (stderr), silent when the output is redirected."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc="encoding", unit="item", file=sys.stderr, dynamic_ncols=True, leave=False,
        disable=not sys.stderr.isatty(),
    )
