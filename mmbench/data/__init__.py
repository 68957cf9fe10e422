"""The data layer: read either on-disk layout, validate it, and hand out a :class:`Dataset`.

Use :func:`load_dataset` with a catalogue name (``tiktok``, ``lfm2k``, ``baby``, or an earlier
import) or a dataset folder; :func:`import_dataset` adds a folder to the catalogue;
:func:`list_shipped` lists it. The names below load on first use (PEP 562), so that a command can
check a dataset name without importing pandas and scipy.
"""

from __future__ import annotations

from mmbench.lazy import lazy_getattr

_EXPORTS = {
    "CatalogEntry": "mmbench.data.catalog",
    "default_datasets_root": "mmbench.data.catalog",
    "list_shipped": "mmbench.data.catalog",
    "SPLITS": "mmbench.data.dataset",
    "Dataset": "mmbench.data.dataset",
    "Provenance": "mmbench.data.dataset",
    "TrainView": "mmbench.data.dataset",
    "import_dataset": "mmbench.data.importer",
    "load_dataset": "mmbench.data.loading",
    "load_folder": "mmbench.data.loading",
    "dataset_warnings": "mmbench.data.validation",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
