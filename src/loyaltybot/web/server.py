"""The aiohttp server for webhook mode: Telegram's updates in, plus a health check."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _forwarder(secret: str, forward: Callable[[dict[str, Any]], None]) -> Callable[..., Any]:
    async def handle(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret.encode()):
            return web.Response(body="Unauthorized", status=401)
        try:
            update = json.loads(await request.read())
        except ValueError:
            return web.Response(body="Bad Request", status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(body="Bad Request", status=400)
        forward(update)
        return web.json_response({})

    return handle


def build_web_app(
    dispatcher: Dispatcher,
    bot: Bot,
    *,
    secret: str,
    path: str,
    forward: Callable[[dict[str, Any]], None] | None = None,
) -> web.Application:
    """Requests to `path` without the right X-Telegram-Bot-Api-Secret-Token get 401.

    With `forward` (update workers), each update is passed on as received instead of being
    handled here."""
    app = web.Application()
    app.router.add_get("/healthz", _health)
    if forward is not None:
        app.router.add_post(path, _forwarder(secret, forward))
        return app
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(app, path=path)
    setup_application(app, dispatcher, bot=bot)
    return app
