"""SciGenBench loading script for ``datasets`` < 4 (which still runs dataset scripts).

``datasets`` >= 4 refuses loading scripts: there use ``scigenbench.dataset.load_scigenbench`` or the exported
Parquet + card folder (``scigenbench export``). With an older ``datasets`` and the ``scigenbench`` package
installed::

    from datasets import load_dataset
    ds = load_dataset("path/to/scigenbench_dataset/scigenbench.py", "seephys", split="test",
                      data_dir="path/to/upstream/data")   # or no data_dir: download at the pinned commit

The builder itself lives in :mod:`scigenbench.dataset.builder`; this file only gives it a script-shaped home
(``datasets`` picks the builder class defined in the script module).
"""

from scigenbench.dataset.builder import SciGenBench as _SciGenBenchBuilder
from scigenbench.dataset.builder import SciGenBenchConfig  # noqa: F401  (re-exported for datasets)


class Scigenbench(_SciGenBenchBuilder):
    """SciGenBench (configs ``scigen``, ``seephys``, ``mini``; split ``test``)."""
