"""A BERT-style sentence encoder run with transformers: texts in, one float32 vector per text out.

Each text is cut to its first ``max_length`` word pieces, run through the model, and its last
layer's token vectors are averaged over the real (non-padding) tokens and scaled to unit L2
norm: the sentence-transformers recipe of all-MiniLM-L6-v2, written out here so that the pooling
and normalisation a feature file's record names are the ones this code applied. Texts are
batched by similar length, which keeps padding, and so the work, small.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import torch

from mmbench.errors import ConfigError
from mmbench.features.encoders import EncoderSpec, get_spec, model_path, unavailable, verify_files


class Encoded(NamedTuple):
    """One float32 row per text, and each text's word pieces before the cut to ``max_length``."""

    values: np.ndarray
    token_counts: np.ndarray


class TextEncoder:
    """One loaded encoder: its spec, its checked files, the device it runs on and its length cap."""

    def __init__(
        self,
        spec: EncoderSpec,
        folder: Path,
        files_sha256: Mapping[str, str],
        device: torch.device,
        max_length: int,
    ) -> None:
        if (spec.pooling, spec.normalisation) != ("mean", "l2"):
            raise ValueError(f"{spec.name}: only mean pooling with L2 normalisation is implemented")
        import transformers
        from transformers import AutoModel, AutoTokenizer

        # the files are local and checked: the loaders' progress bars and notes would only be noise
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        self.spec = spec
        self.files_sha256 = dict(files_sha256)
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).to(device).eval()
        limit = int(self.model.config.max_position_embeddings)
        if not 1 <= max_length <= limit:
            raise ConfigError(f"--max-length must be between 1 and {limit} for {spec.name}, got {max_length}")
        self.max_length = max_length

    @property
    def dim(self) -> int:
        """The length of each output vector."""
        return int(self.model.config.hidden_size)

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Word pieces per text, special tokens included, before any cut to ``max_length``."""
        encoded = self.tokenizer(list(texts), truncation=False, verbose=False)
        return np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> Encoded:
        """One unit-norm float32 row per text, in the order given, with the texts' token counts.

        Texts are encoded ``batch_size`` at a time, longest first; ``on_batch`` is called with the
        number of texts each finished batch held.
        """
        if batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
        counts = self.token_counts(texts)
        order = np.argsort(-np.minimum(counts, self.max_length), kind="stable")
        values = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            values[rows] = self._encode_batch([texts[row] for row in rows])
            if on_batch is not None:
                on_batch(len(rows))
        return Encoded(values, counts)

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        inputs = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy()


def load_text_encoder(name: str, device: torch.device, max_length: int | None = None) -> TextEncoder:
    """Load encoder ``name`` from its installed package on ``device``, its files checked.

    ``max_length`` (word pieces, special tokens included) defaults to the encoder's own; longer
    texts keep their first word pieces. Raises :class:`FeaturesUnavailable` (one line naming the
    extra to install) when the package or transformers is missing.
    """
    spec = get_spec(name)
    folder = model_path(spec)
    files_sha256 = verify_files(spec, folder)
    try:
        importlib.import_module("transformers")
    except ModuleNotFoundError:
        raise unavailable(spec, "the transformers library") from None
    return TextEncoder(
        spec, folder, files_sha256, device, spec.max_length if max_length is None else max_length
    )
