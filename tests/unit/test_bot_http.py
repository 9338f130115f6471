"""The Bot API's HTTP/1.1 transport (`loyaltybot.bot.http`) against real sockets."""

from __future__ import annotations

import asyncio
import io
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError
from aiogram.types import BufferedInputFile
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltybot.bot.http import HttpError, HttpPool, _Connection
from loyaltybot.bot.session import BotApiSession

TOKEN = "123456:TEST-token"
Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes], Awaitable[bool]]


class Server:
    """A raw HTTP server: `reply` answers each request and says whether to keep the connection."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/bot/sendMessage", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if not await self.reply(reader, writer, head, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def ping(pool: HttpPool, url: str, timeout: float = 5) -> tuple[int, bytes]:
    """An empty POST: the status and body of the answer."""
    return await pool.post(url, b"", content_type="text/plain", timeout=timeout)


def delayed(seconds: float, reply: Reply) -> Reply:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bool:
        await asyncio.sleep(seconds)
        return await reply(reader, writer, head, body)

    return slow


def answer(body: bytes, *, status: str = "200 OK", extra: bytes = b"", keep: bool = True) -> Reply:
    async def reply(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _h: bytes, _b: bytes) -> bool:
        writer.write(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (status.encode(), extra, len(body), body))
        await writer.drain()
        return keep

    return reply


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(reply: Reply) -> Server:
        server = await Server(reply).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def test_request_on_the_wire_and_connection_reused(serve) -> None:
    server = await serve(answer(b'{"ok":true}'))
    pool = HttpPool(user_agent="test-agent")
    for _ in range(5):
        status, body = await pool.post(server.url("/bot1:x/getMe?a=1"), b"x=1&y=%C3%A9", content_type="application/x-www-form-urlencoded", timeout=5)
        assert (status, body) == (200, b'{"ok":true}')
    assert server.connections == 1  # kept alive
    head, body = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /bot1:x/getMe?a=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "User-Agent: test-agent" in lines
    assert "Content-Type: application/x-www-form-urlencoded" in lines
    assert "Content-Length: 12" in lines
    assert body == b"x=1&y=%C3%A9"
    await pool.close()


async def test_concurrent_requests_use_separate_connections_within_the_limit(serve) -> None:
    server = await serve(delayed(0.05, answer(b"{}")))
    pool = HttpPool(limit=3)
    results = await asyncio.gather(*(ping(pool, server.url()) for _ in range(9)))
    assert results == [(200, b"{}")] * 9
    assert server.connections == 3
    assert pool.idle_connections == 3
    await pool.close()
    assert pool.idle_connections == 0


async def test_chunked_body_with_extensions_and_trailers(serve) -> None:
    async def chunked(_r, writer, _h, _b) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"5;ext=1\r\nhello\r\n", b"1\r\n \r\n", b"5\r\nworld\r\n", b"0\r\nX-Trailer: 1\r\n\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.001)
        return True

    server = await serve(chunked)
    pool = HttpPool()
    assert await ping(pool, server.url()) == (200, b"hello world")
    assert await ping(pool, server.url()) == (200, b"hello world")
    assert server.connections == 1
    await pool.close()


async def test_body_until_the_connection_closes_and_connection_close(serve) -> None:
    async def until_eof(_r, writer, _h, _b) -> bool:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nall of it")
        return False

    server = await serve(until_eof)
    pool = HttpPool()
    assert await ping(pool, server.url()) == (200, b"all of it")
    assert await ping(pool, server.url()) == (200, b"all of it")
    assert server.connections == 2 and pool.idle_connections == 0

    closing = await serve(answer(b"{}", extra=b"Connection: close\r\n", keep=False))
    for _ in range(2):
        assert await ping(pool, closing.url()) == (200, b"{}")
    assert closing.connections == 2
    await pool.close()


async def test_interim_100_continue_is_skipped(serve) -> None:
    async def interim(_r, writer, _h, _b) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        return True

    server = await serve(interim)
    pool = HttpPool()
    assert await ping(pool, server.url()) == (201, b"ok")
    await pool.close()


async def test_server_closing_an_idle_connection_and_idle_expiry(serve) -> None:
    server = await serve(answer(b"{}"))
    pool = HttpPool(keepalive=60)
    await ping(pool, server.url())
    server.writers[0].close()  # the server drops the kept-alive connection
    await asyncio.sleep(0.05)
    assert await ping(pool, server.url()) == (200, b"{}")
    assert server.connections == 2

    expiring = HttpPool(keepalive=0.05)
    await ping(expiring, server.url())
    await asyncio.sleep(0.1)  # idle longer than `keepalive`: not reused
    await ping(expiring, server.url())
    assert server.connections == 4
    await pool.close()
    await expiring.close()


async def test_connections_left_idle_after_a_burst_are_closed(serve) -> None:
    server = await serve(delayed(0.02, answer(b"{}")))
    pool = HttpPool(keepalive=0.1)
    await asyncio.gather(*(ping(pool, server.url()) for _ in range(5)))
    assert pool.idle_connections == 5
    for _ in range(8):  # then one request at a time: the most recent connection stays in use
        await ping(pool, server.url())
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert server.connections == 5
    assert pool.idle_connections == 1
    assert sum(not writer.is_closing() for writer in server.writers) == 1  # the server saw the others close
    await pool.close()


async def test_timeout_closes_the_connection_and_the_next_request_works(serve) -> None:
    calls = 0

    async def first_hangs(_r, writer, _h, _b) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return await answer(b"{}")(_r, writer, _h, _b)

    server = await serve(first_hangs)
    pool = HttpPool()
    with pytest.raises(TimeoutError):
        await ping(pool, server.url(), timeout=0.1)
    assert pool.idle_connections == 0
    assert await ping(pool, server.url()) == (200, b"{}")
    assert server.connections == 2
    await pool.close()


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "whole body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "chunked body"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "malformed chunk"),
        (b"", "closed the connection"),
    ],
)
async def test_broken_answers_raise_http_error(serve, raw: bytes, error: str) -> None:
    async def broken(_r, writer, _h, _b) -> bool:
        writer.write(raw)
        await writer.drain()
        return False

    server = await serve(broken)
    pool = HttpPool()
    with pytest.raises(HttpError, match=error):
        await ping(pool, server.url())
    assert pool.idle_connections == 0
    await pool.close()


async def test_refused_connection_and_bad_url() -> None:
    server = await Server(answer(b"{}")).start()
    await server.stop()  # nothing listens on that port any more
    pool = HttpPool()
    with pytest.raises(HttpError, match="cannot connect"):
        await ping(pool, server.url())
    with pytest.raises(HttpError, match="not an http"):
        await ping(pool, "ftp://example.org/x")


@given(
    body=st.binary(max_size=300),
    chunked=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
@settings(max_examples=150, deadline=None)
def test_answer_split_anywhere_parses_the_same(body: bytes, chunked: bool, cuts: list[int]) -> None:
    if chunked:
        parts = [body[i : i + 7] for i in range(0, len(body), 7)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + payload
    else:
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    points = sorted({c for c in cuts if 0 < c < len(raw)})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]

    class Transport:
        def write(self, _data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    async def run() -> tuple[int, bytes, bool]:
        connection = _Connection()
        connection.connection_made(Transport())  # type: ignore[arg-type]
        waiter = connection.request(b"", b"")
        for piece in pieces:
            connection.data_received(piece)
        return await asyncio.wait_for(waiter, 1)

    assert asyncio.run(run()) == (200, body, True)


# --------------------------------------------------------------------------- TLS


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = await Server(answer(b'{"ok":true}')).start(server_context)
    try:
        trusting = HttpPool(ssl_context=ssl.create_default_context(cafile=str(cert)))
        for _ in range(2):
            assert await trusting.post(server.url(scheme="https"), b"a=1", content_type="text/plain", timeout=5) == (200, b'{"ok":true}')
        assert server.connections == 1
        await trusting.close()
        with pytest.raises(HttpError, match="cannot connect"):  # not signed by a known authority
            await ping(HttpPool(), server.url(scheme="https"))
    finally:
        await server.stop()


async def test_an_ssl_context_factory_runs_once_and_only_for_https(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    tls = await Server(answer(b'{"ok":true}')).start(server_context)
    plain = await Server(answer(b'{"ok":true}')).start()
    made: list[ssl.SSLContext] = []

    def make() -> ssl.SSLContext:
        made.append(ssl.create_default_context(cafile=str(cert)))
        return made[-1]

    pool = HttpPool(ssl_context=make, limit=2)
    try:
        assert await pool.post(plain.url(), b"a=1", content_type="text/plain", timeout=5) == (200, b'{"ok":true}')
        assert made == []  # plain HTTP: no CA bundle loaded
        calls = [pool.post(tls.url(scheme="https"), b"a=1", content_type="text/plain", timeout=5) for _ in range(2)]
        assert await asyncio.gather(*calls) == [(200, b'{"ok":true}')] * 2
        assert tls.connections == 2 and len(made) == 1
    finally:
        await pool.close()
        await tls.stop()
        await plain.stop()


# --------------------------------------------------------------------------- through aiogram


async def test_bot_session_errors_are_aiograms(serve) -> None:
    server = await serve(answer(b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}', status="400 Bad Request"))
    session = BotApiSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{server.port}"))
    bot = Bot(TOKEN, session=session)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(42, "hi", reply_markup=None)
    head, body = server.requests[0]
    assert head.startswith(f"POST /bot{TOKEN}/sendMessage HTTP/1.1".encode())
    assert body == b"chat_id=42&text=hi"  # the form aiogram's own session sends
    await session.close()

    await server.stop()
    session = BotApiSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{server.port}"))
    with pytest.raises(TelegramNetworkError, match="cannot connect"):
        await Bot(TOKEN, session=session).get_me()
    await session.close()


SENT = (
    b'{"ok":true,"result":{"message_id":7,"from":{"id":1,"is_bot":true,"first_name":"Shop"},'
    b'"chat":{"id":42,"type":"private","first_name":"Aisyah"},"date":1700000000,"text":"hi"}}'
)


async def test_results_unused_skips_parsing_success_but_not_errors(serve, monkeypatch) -> None:
    from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramForbiddenError
    from aiogram.types import Message

    from loyaltybot.bot.session import results_unused

    replies = iter([
        answer(SENT),
        answer(SENT),
        answer(b'{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}', status="403 Forbidden"),
        answer(b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'),  # 200, not ok
        answer(b"not json"),
    ])

    async def reply(r: asyncio.StreamReader, w: asyncio.StreamWriter, h: bytes, b: bytes) -> bool:
        return await next(replies)(r, w, h, b)

    server = await serve(reply)
    session = BotApiSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{server.port}"))
    bot = Bot(TOKEN, session=session)
    sent = await bot.send_message(42, "hi")  # outside: the parsed result, as aiogram gives it
    assert isinstance(sent, Message) and sent.message_id == 7 and sent.chat.id == 42
    checked: list[str] = []
    check = session.check_response
    monkeypatch.setattr(
        session, "check_response", lambda **kw: checked.append(kw["method"].__api_method__) or check(**kw)
    )
    with results_unused():
        assert await bot.send_message(42, "hi") is None
        assert checked == []  # the answer was not parsed into a Message
        with pytest.raises(TelegramForbiddenError, match="blocked"):
            await bot.send_message(42, "hi")
        with pytest.raises(TelegramAPIError, match="chat not found"):
            await bot.send_message(42, "hi")  # "ok": false, whatever the HTTP status
        with pytest.raises(ClientDecodeError):
            await bot.send_message(42, "hi")  # an answer that is not JSON
    assert checked == ["sendMessage"] * 3
    await session.close()


async def test_first_upload_does_not_break_calls_in_flight() -> None:
    """aiogram opens its aiohttp session (for the first file) by closing the session first.
    The long poll and the replies in flight over the keep-alive pool must not be cut."""
    from PIL import Image

    from loyaltybot.sandbox import BotApiEmulator

    png = io.BytesIO()
    Image.new("L", (8, 8)).save(png, format="PNG")

    async with BotApiEmulator(bot_token=TOKEN) as emu:
        session = BotApiSession(api=TelegramAPIServer.from_base(emu.base_url))
        bot = Bot(TOKEN, session=session)
        user = emu.user(777)
        await user.send("hello")
        (first,) = await bot.get_updates(timeout=0)
        poll = asyncio.create_task(bot.get_updates(offset=first.update_id + 1, timeout=1))
        await asyncio.sleep(0.1)  # the poll is waiting in the emulator
        assert session._http is not None and session._http.idle_connections == 0
        photo = BufferedInputFile(png.getvalue(), "card.png")
        await bot.send_photo(user.id, photo)
        await bot.send_photo(user.id, photo)
        assert await poll == []  # it ran to its timeout instead of failing
        await bot.send_message(user.id, "still here")
        assert emu.calls_to("sendPhoto") and len(emu.calls_to("getUpdates")) == 2
        await session.close()
