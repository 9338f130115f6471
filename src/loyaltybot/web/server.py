"""The aiohttp server for webhook mode: Telegram's updates in, plus a health check."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_web_app(dispatcher: Dispatcher, bot: Bot, *, secret: str, path: str) -> web.Application:
    """Requests to `path` without the right X-Telegram-Bot-Api-Secret-Token get 401."""
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(app, path=path)
    app.router.add_get("/healthz", _health)
    setup_application(app, dispatcher, bot=bot)
    return app
