"""A small lazy registry: names map to ``"package.module:Attr"`` strings imported on first use.

Unknown names raise a ``KeyError`` subclass that lists the valid names and the closest match,
so a typo in a spec string (``opena:gpt-4o``) tells the user what they meant.
"""

from __future__ import annotations

import difflib
import importlib
import threading
from typing import Any, Callable


class UnknownNameError(KeyError, ValueError):
    """A name that is not in a registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry:
    """Maps names to lazily imported objects.

    >>> r = Registry("toy")
    >>> r.register("dumps", "json:dumps")
    >>> r.get("dumps")([1])
    '[1]'
    >>> r.get("dump")
    Traceback (most recent call last):
    ...
    scigenbench._registry.UnknownNameError: Unknown toy 'dump'. Did you mean 'dumps'? Valid names: dumps
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, str | Any] = {}
        self._lock = threading.Lock()

    def register(self, name: str, target: str | Any) -> None:
        """Register ``target`` (an object, or a ``"module:attr"`` string imported on first use)."""
        with self._lock:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = target

    def decorator(self, name: str) -> Callable[[Any], Any]:
        def wrap(obj: Any) -> Any:
            self.register(name, obj)
            return obj

        return wrap

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise UnknownNameError(self._unknown_message(name))
        target = self._entries[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            obj = getattr(importlib.import_module(module_name), attr)
            with self._lock:
                self._entries[name] = obj
            return obj
        return target

    def _unknown_message(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
        return f"Unknown {self.kind} {name!r}.{hint} Valid names: {shown}"
