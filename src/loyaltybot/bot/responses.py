"""Keep aiogram's parametrized `Response[...]` models alive for the life of the process.

aiogram builds `Response[method.__returning__]` for every Bot API reply. Pydantic caches
parametrized generic models in a weak-value dictionary, so once the garbage collector
drops one it is rebuilt from scratch (~10 ms of schema building) on a later call. Under
load that happened on roughly every other reply (profiled with benchmarks/bench_claims.py).
Holding strong references to the types this bot receives makes every lookup a cache hit.
"""

from __future__ import annotations

from typing import Any

from aiogram.client.session.base import Response
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetMe,
    GetUpdates,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
)

_METHODS = (
    AnswerCallbackQuery,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetMe,
    GetUpdates,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    SetWebhook,
)
_PINNED: list[Any] = []


def pin_response_models() -> None:
    if _PINNED:
        return
    for method in _METHODS:
        _PINNED.append(Response[method.__returning__])  # type: ignore[name-defined]
