"""The data layer: read either on-disk layout, validate it, and hand out a :class:`Dataset`.

Use :func:`load_dataset` with a catalogue name (``tiktok``, ``baby``, or an earlier import) or a
dataset folder; :func:`import_dataset` adds a folder to the catalogue; :func:`list_shipped`
lists it.
"""

from mmbench.data.catalog import CatalogEntry, default_datasets_root, list_shipped
from mmbench.data.dataset import SPLITS, Dataset, Provenance, TrainView
from mmbench.data.importer import import_dataset
from mmbench.data.loading import load_dataset, load_folder
from mmbench.data.validation import dataset_warnings

__all__ = [
    "SPLITS",
    "CatalogEntry",
    "Dataset",
    "Provenance",
    "TrainView",
    "dataset_warnings",
    "default_datasets_root",
    "import_dataset",
    "list_shipped",
    "load_dataset",
    "load_folder",
]
