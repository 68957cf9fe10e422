"""Item feature files made from raw item data, with a record of how they were made.

``mmbench features text`` turns a table of item texts into ``<modality>_feat.npy`` (row i = item
i) with a sentence encoder whose weights come from an installed package (the ``features``
extra), never from a hub at run time. How the file was made (encoder, weights' SHA-256, text
template, maximum length, pooling, normalisation, missing-text policy) is written next to it, so
that a feature file never again comes without its recipe. The names below load on first use
(PEP 562): the command can check its input without importing torch or transformers.
"""

from __future__ import annotations

from mmbench.lazy import lazy_getattr

_EXPORTS = {
    "DEFAULT_ENCODER": "mmbench.features.encoders",
    "ENCODERS": "mmbench.features.encoders",
    "EncoderSpec": "mmbench.features.encoders",
    "FeaturesUnavailable": "mmbench.features.encoders",
    "load_text_encoder": "mmbench.features.text_encoder",
    "TextEncoder": "mmbench.features.text_encoder",
    "MISSING_POLICIES": "mmbench.features.missing",
    "ItemTexts": "mmbench.features.item_texts",
    "read_item_texts": "mmbench.features.item_texts",
    "TextFeatureRequest": "mmbench.features.make",
    "make_text_features": "mmbench.features.make",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
