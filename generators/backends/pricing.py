"""Token prices for cost accounting.

A price table maps a model id (exact, or an ``fnmatch`` pattern such as ``"gpt-4o-mini*"``) to USD per one
million tokens: ``{"my-model": {"input": 0.15, "output": 0.60}}``. No prices are built in (they change too often
to ship); give them with ``get_backend(..., prices={...})``, a path to such a JSON file, or the environment
variable ``SCIGENBENCH_PRICES`` (a JSON file path). A model without a price costs 0 and is flagged
``"unpriced"`` in provenance and ``stats()``; a ``budget_usd`` requires a price.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_ENV = "SCIGENBENCH_PRICES"


@dataclass(frozen=True)
class Price:
    input_per_1m: float
    output_per_1m: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1_000_000


class PriceTable:
    """Model id → :class:`Price` (exact ids win over patterns; longer patterns win over shorter)."""

    def __init__(self, table: dict[str, Any] | None = None):
        self._prices: dict[str, Price] = {}
        for model, entry in (table or {}).items():
            try:
                self._prices[model] = Price(float(entry["input"]), float(entry["output"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"price for {model!r} must be {{'input': usd_per_1M, 'output': usd_per_1M}}, "
                                 f"got {entry!r}") from exc

    @classmethod
    def from_option(cls, prices: "dict[str, Any] | str | os.PathLike | PriceTable | None") -> "PriceTable":
        """Build from a dict, a JSON file path, an existing table, or (``None``) ``$SCIGENBENCH_PRICES``."""
        if isinstance(prices, PriceTable):
            return prices
        if prices is None:
            prices = os.environ.get(PRICES_ENV) or {}
        if isinstance(prices, (str, os.PathLike)):
            path = Path(prices).expanduser()
            try:
                prices = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read the price table {str(path)!r}: {exc}") from exc
        return cls(prices)

    def lookup(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        patterns = [p for p in self._prices if any(c in p for c in "*?[") and fnmatch.fnmatchcase(model, p)]
        return self._prices[max(patterns, key=len)] if patterns else None
