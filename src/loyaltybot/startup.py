"""A faster `import aiogram` for `loyaltybot run`, its update workers and the tests.

aiogram 3.20 describes Telegram's ~265 types and ~160 methods as pydantic models. Turning a
model into a validator is what costs: the types are declared with `defer_build=True`, but
`aiogram/types/__init__.py` then ends by rebuilding every one of them at once:

    for _entity_name in __all__:
        ...
        _entity.model_rebuild(_types_namespace={..., **{k: v for k, v in globals().items() if k in __all__}})

That loop was 0.65 s of a 1.4 s import on this project's machine, for validators the bot
mostly never uses: it validates an `Update`, and the answers of a dozen methods. The methods
are not deferred at all, and each one is built when its class is defined.

`install()` changes three modules as they are imported, and nothing else:

1. `aiogram.types`: instead of the loop, the namespace the loop would pass is built once and
   made the namespace each type resolves its annotations in (`__pydantic_parent_namespace__`,
   which pydantic uses when it builds a deferred model, alone or nested in another one, and
   which takes precedence over the caller's frame pydantic also looks in). Each type is then
   built by pydantic the first time it is used, with the same names the loop would have used.
2. `aiogram.methods.base`: `TelegramMethod` gets `defer_build=True` like `TelegramObject`.
3. `aiogram.methods`: every method resolves in that same namespace.

(pydantic builds a deferred model from inside the caller's stack, five frames up: a first use
from a stack shallower than that, such as the top level of a `python -c` script, fails with
"call stack is not deep enough". The bot's first uses are deep inside asyncio and aiogram.)

The import then takes about 0.35 s instead of 1.05 s; `build_app` builds the `Update` model
(about 50 ms), and the first call of each method takes a few ms more. The suite runs with it
installed (tests/conftest.py), and tests/unit/test_startup_import.py checks that every type
and method still builds, with the same fields (annotation, default, alias) as without it.
(The core schemas differ in form: pydantic inlines or refers to nested models depending on
the order they are built in.) If any of the three sources
is not exactly the one expected (another aiogram release), nothing is changed: the bot runs
the same, only its start is slower.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

TYPES = "aiogram.types"
METHODS = "aiogram.methods"
METHODS_BASE = "aiogram.methods.base"

TYPES_LOOP = '''# Load typing forward refs for every TelegramObject
for _entity_name in __all__:
    _entity = globals()[_entity_name]
    if not hasattr(_entity, "model_rebuild"):
        continue
    _entity.model_rebuild(
        _types_namespace={
            "List": List,
            "Optional": Optional,
            "Union": Union,
            "Literal": Literal,
            "Default": _Default,
            **{k: v for k, v in globals().items() if k in __all__},
        }
    )

del _entity
del _entity_name
'''
TYPES_DEFERRED = '''# loyaltybot.startup: the same namespace, the models built when first used
from loyaltybot.startup import defer_types as _loyaltybot_defer_types

_loyaltybot_defer_types(
    __all__,
    {
        "List": List,
        "Optional": Optional,
        "Union": Union,
        "Literal": Literal,
        "Default": _Default,
        **{k: v for k, v in globals().items() if k in __all__},
    },
)
del _loyaltybot_defer_types
'''
METHOD_CONFIG = '''class TelegramMethod(BotContextController, BaseModel, Generic[TelegramType], ABC):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        arbitrary_types_allowed=True,
    )
'''
METHOD_CONFIG_DEFERRED = '''class TelegramMethod(BotContextController, BaseModel, Generic[TelegramType], ABC):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        arbitrary_types_allowed=True,
        defer_build=True,  # loyaltybot.startup
    )
'''
METHODS_END = '''
# loyaltybot.startup: methods resolve their annotations in the types' namespace
from loyaltybot.startup import defer_methods as _loyaltybot_defer_methods

_loyaltybot_defer_methods(__all__, globals())
del _loyaltybot_defer_methods
'''

_namespace: dict[str, Any] = {}  # the types' namespace, once aiogram.types is imported


def _replace_once(source: str, old: str, new: str) -> str | None:
    return source.replace(old, new) if source.count(old) == 1 else None


def patched_types(source: str) -> str | None:
    return _replace_once(source, TYPES_LOOP, TYPES_DEFERRED)


def patched_methods_base(source: str) -> str | None:
    return _replace_once(source, METHOD_CONFIG, METHOD_CONFIG_DEFERRED)


def patched_methods(source: str) -> str | None:
    return source + METHODS_END if "__all__ = (" in source and METHODS_END not in source else None


PATCHES: dict[str, Callable[[str], str | None]] = {
    TYPES: patched_types,
    METHODS_BASE: patched_methods_base,
    METHODS: patched_methods,
}


def _is_model(value: object) -> bool:
    return isinstance(value, type) and hasattr(value, "model_rebuild")


def defer_types(names: Iterable[str], namespace: dict[str, Any]) -> None:
    """Called by the patched `aiogram.types` where it rebuilt every model."""
    _namespace.clear()
    _namespace.update(namespace)  # one dict for the types and the methods
    for name in names:
        entity = _namespace.get(name)
        if _is_model(entity):
            entity.__pydantic_parent_namespace__ = _namespace


def defer_methods(names: Iterable[str], module_globals: Mapping[str, Any]) -> None:
    """Called at the end of the patched `aiogram.methods`."""
    for name in names:
        entity = module_globals.get(name)
        if _is_model(entity):
            entity.__pydantic_parent_namespace__ = _namespace


class _Loader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, source: str) -> None:
        super().__init__(fullname, path)
        self._source = source

    def get_code(self, fullname: str) -> CodeType:
        return compile(self._source, self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, sources: dict[str, str]) -> None:
        self._sources = sources  # module name -> patched source

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._sources.get(fullname)
        if source is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        patched = importlib.machinery.ModuleSpec(
            fullname, _Loader(fullname, spec.origin, source), origin=spec.origin, is_package=spec.submodule_search_locations is not None
        )
        patched.submodule_search_locations = spec.submodule_search_locations
        patched.has_location = True
        return patched


def _origin(name: str) -> Path | None:
    """Where `name`'s source file is, without importing it (its parents are not imported either)."""
    parts = name.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0])
    for depth in range(1, len(parts)):
        if spec is None or spec.submodule_search_locations is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: depth + 1]), spec.submodule_search_locations)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def patched_sources() -> dict[str, str] | None:
    """The three patched sources, or None unless every one of them is the expected one."""
    sources: dict[str, str] = {}
    for name, patch in PATCHES.items():
        origin = _origin(name)
        if origin is None:
            return None
        try:
            patched = patch(origin.read_text(encoding="utf-8"))
        except OSError:
            return None
        if patched is None:
            return None
        sources[name] = patched
    return sources


def install() -> bool:
    """Before aiogram is imported. True if the faster import is in place (now or before);
    False, changing nothing, if aiogram is already imported or is not the expected release."""
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return True
    if any(name in sys.modules for name in PATCHES):
        return False
    sources = patched_sources()
    if sources is None:
        return False
    sys.meta_path.insert(0, _Finder(sources))
    return True
