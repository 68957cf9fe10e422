"""Build ``datasets/lfm2k/`` from the Last.fm-2K multimodal release (its files as published).

The release (Spillo et al., see ``datasets/lfm2k/CARD.md``) names its feature files after their
encoders; mmbench reads ``<feature set>_feat.npy``, so the files are copied byte for byte under
these names: ``text`` (all-MiniLM-L6-v2), ``audio`` (VGGish), ``audio_whisper`` (Whisper). The
items' raw text (``item_text.tsv``, keyed by item id) is made from the artist-keyed tag text
through the original-id copy of the interactions, which holds the same rows in the same order.

Usage: ``python scripts/ship_lfm2k.py SOURCE_FOLDER [--out datasets/lfm2k]``. It rewrites the data
files and ``dataset.json``; ``CARD.md`` is written by hand around the loader's counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from mmbench.data.catalog import MANIFEST_NAME, make_manifest
from mmbench.data.checksums import sha256_file
from mmbench.data.loading import load_folder

ITEM_TEXT = "item_text.tsv"
FEATURE_FILES = {  # published file -> (feature set, encoder)
    "all-MiniLM-L6-v2.npy": ("text", "all-MiniLM-L6-v2 (sentence-transformers) over the artist's Last.fm tags"),
    "vggish.npy": ("audio", "VGGish over the artist's popular songs, averaged per artist"),
    "whisper.npy": ("audio_whisper", "Whisper (base) encoder over the artist's popular songs, averaged per artist"),
}
DEFAULT_MODALITIES = ["audio", "text"]
RELEASE = "https://github.com/giuspillo/extending_sota_data_mm_feat"
RELEASE_COMMIT = "e8c90c3f93ed14753fec4905d37c401de2255160"
PROVENANCE = {
    "license": "HetRec 2011 Last.fm-2K: non-commercial use only (GroupLens readme); cite Last.fm and the "
    "HetRec'11 workshop, and the multimodal release for the features",
    "citation": [
        {
            "key": "cantador2011hetrec",
            "text": "Ivan Cantador, Peter Brusilovsky, Tsvi Kuflik. 2nd Workshop on Information Heterogeneity "
            "and Fusion in Recommender Systems (HetRec 2011). Proceedings of the 5th ACM Conference on "
            "Recommender Systems (RecSys 2011).",
            "why": "requested by the HetRec 2011 Last.fm-2K readme (together with the Last.fm website, http://www.lastfm.com)",
        },
        {
            "key": "spillo2025multimodal",
            "text": "Giuseppe Spillo et al. See the Movie, Hear the Song, Read the Book: Extending MovieLens-1M, "
            "Last.fm 2K, and DBbook with Multimodal Data. RecSys 2025 (doi 10.1145/3705328.3748162); "
            "data on Zenodo, record 15403972.",
            "why": "the multimodal release: the split and every feature file shipped here",
        },
    ],
    "sources": [
        {"file": "lfm2k.inter", "path": "4_mmrec/data/lfm2k/lfm2k.inter", "repository": RELEASE, "commit": RELEASE_COMMIT},
        *(
            {"file": f"{name}_feat.npy", "path": f"4_mmrec/data/lfm2k/{published}", "repository": RELEASE,
             "commit": RELEASE_COMMIT, "note": "copied byte for byte under mmbench's <feature set>_feat.npy name"}
            for published, (name, _) in FEATURE_FILES.items()
        ),
        {"file": ITEM_TEXT, "path": "raw/lfm2k_text.tsv + raw/lfm2k_og_ids.inter", "repository": RELEASE,
         "commit": RELEASE_COMMIT, "note": "made by scripts/ship_lfm2k.py: artist-keyed text joined to item ids"},
    ],
    "published_statistics": {
        "interactions": 56346, "users": 1859, "items": 1425,
        "source": "the release's process_lastfm.ipynb, printed before the split",
        "note": "the file holds 56,345 interactions of 1,858 users (one of each lost between print and file)",
    },
}


def item_text(source: Path) -> pd.DataFrame:
    """``itemID``, ``text`` for every item, from the artist-keyed text and the original-id interactions."""
    read = dict(sep="\t", dtype=str, keep_default_na=False, quoting=3)
    ids = pd.read_csv(source / "lfm2k.inter", **read)
    original = pd.read_csv(source / "raw" / "lfm2k_og_ids.inter", **read)
    if len(ids) != len(original) or not (ids["x_label"] == original["x_label"]).all():
        raise SystemExit("the two .inter files do not hold the same rows in the same order")
    pairs = pd.DataFrame({"itemID": ids["itemID"].astype(int), "artistID": original["itemID"]}).drop_duplicates()
    if pairs["itemID"].duplicated().any() or pairs["artistID"].duplicated().any():
        raise SystemExit("item ids and original artist ids do not map one to one")
    texts = pd.read_csv(source / "raw" / "lfm2k_text.tsv", **read)
    table = pairs.merge(texts, on="artistID", how="left", validate="one_to_one")
    if table["text"].isna().any():
        raise SystemExit("some items have no text")
    return table.sort_values("itemID")[["itemID", "text"]]


def write_item_text(table: pd.DataFrame, path: Path) -> None:
    """One line per item, tab-separated, no quoting (the texts hold no tab or newline)."""
    lines = ["itemID\ttext"] + [f"{item}\t{text}" for item, text in zip(table["itemID"], table["text"])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of the release's lfm2k files (with raw/)")
    parser.add_argument("--out", type=Path, default=Path("datasets/lfm2k"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.source / "lfm2k.inter", args.out / "lfm2k.inter")
    for published, (name, _) in FEATURE_FILES.items():
        shutil.copyfile(args.source / published, args.out / f"{name}_feat.npy")
    write_item_text(item_text(args.source), args.out / ITEM_TEXT)
    dataset = load_folder(args.out, name="lfm2k", default_modalities=DEFAULT_MODALITIES, warn=False)
    manifest = make_manifest(
        dataset, args.out, origin="shipped",
        title="Last.fm-2K (HetRec 2011) with the multimodal features of Spillo et al.: text and audio",
        extra=PROVENANCE,
    )
    for published, (name, encoder) in FEATURE_FILES.items():
        manifest["modalities"][name].update(encoder=encoder, published_file=published)
    manifest["default_modalities"] = DEFAULT_MODALITIES
    manifest["side_files"] = {
        ITEM_TEXT: {"sha256": sha256_file(args.out / ITEM_TEXT), "bytes": (args.out / ITEM_TEXT).stat().st_size}
    }
    (args.out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {', '.join(sorted(p.name for p in args.out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
