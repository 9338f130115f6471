"""A faster `import aiogram` for `loyaltybot run` and its update workers.

`aiogram/types/__init__.py` (3.20) ends by rebuilding each of its ~265 pydantic models with a
namespace of every type, and it builds that namespace again for each model:

    **{k: v for k, v in globals().items() if k in __all__},

`__all__` is a tuple, so that is ~265 × ~600 × ~265 string comparisons: 0.3 s of a 2 s
start-up on this project's machine. The dict is the same every time (the loop only assigns
`_entity` and `_entity_name`, which are not in `__all__`).

`install()` makes the import of that one module compile its source with the namespace built
once before the loop. Nothing else changes: the same models are rebuilt with the same
namespace. If the file does not contain exactly that line (another aiogram release), the
module is imported unchanged. The bot runs the same either way, only its start is slower.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

TARGET = "aiogram.types"
SLOW = "            **{k: v for k, v in globals().items() if k in __all__},\n"
FAST = "            **_loyaltybot_types_namespace,\n"
LOOP = "for _entity_name in __all__:\n"
PRELUDE = "_loyaltybot_types_namespace = {k: v for k, v in globals().items() if k in __all__}\n"


def patched_source(source: str) -> str | None:
    """The module's source with the namespace built once, or None if it is not the known one."""
    if source.count(SLOW) != 1 or source.count(LOOP) != 1 or source.index(LOOP) > source.index(SLOW):
        return None
    source = source.replace(SLOW, FAST).replace(LOOP, PRELUDE + LOOP)
    return source + "\ndel _loyaltybot_types_namespace\n"


class _Loader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, source: str) -> None:
        super().__init__(fullname, path)
        self._source = source

    def get_code(self, fullname: str) -> CodeType:
        return compile(self._source, self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        try:
            with open(spec.origin, encoding="utf-8") as file:
                source = patched_source(file.read())
        except OSError:
            return None
        if source is None:
            return None
        loader = _Loader(fullname, spec.origin, source)
        fast = importlib.machinery.ModuleSpec(fullname, loader, origin=spec.origin, is_package=True)
        fast.submodule_search_locations = spec.submodule_search_locations
        fast.has_location = True
        return fast


def install() -> None:
    """Before aiogram is imported; does nothing if it already is, or if installed twice."""
    if TARGET in sys.modules or any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
