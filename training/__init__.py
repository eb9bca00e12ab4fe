"""scigenbench.training: text QA data → verified, figure-grounded training data.

Synthesis (construction stages, generation, verification, the ``SYN_DIR`` format), exports for VeRL, TRL,
LLaMA-Factory and EasyR1, reward functions and training recipes. Layer order:
``dataset ← generators ← metrics ← training ← scripts, app``.
"""

from __future__ import annotations

import importlib
from typing import Any

# exports, rewards and recipes (issue 13b); synthesis adds its names below
_EXPORTS = {
    "export_training": "scigenbench.training.exports",
    "load_verified": "scigenbench.training.exports",
    "FORMATS": "scigenbench.training.exports",
    "compute_score": "scigenbench.training.rewards",
    "accuracy_reward": "scigenbench.training.rewards",
    "extract_final_answer": "scigenbench.training.rewards",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: importing the package stays cheap
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scigenbench.training' has no attribute {name!r}")
