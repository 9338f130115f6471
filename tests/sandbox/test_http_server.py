"""The emulator's own HTTP/1.1 server (`loyaltybot.sandbox.http`), over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from loyaltybot.sandbox import BotApiEmulator
from loyaltybot.sandbox.http import HttpServer, Reply, Request, multipart_form


class Recorder:
    """A handler that echoes what it got, and can be told to wait."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.gate: asyncio.Event | None = None
        self.cancelled = asyncio.Event()

    async def __call__(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.path == "/fail":
            raise RuntimeError("handler bug")
        if request.path == "/wait":
            assert self.gate is not None
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        answer = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "type": request.headers.get("content-type", ""),
            "body": request.body.decode("latin-1"),
        }
        return Reply(200, json.dumps(answer).encode())


@pytest.fixture
async def served() -> AsyncIterator[tuple[Recorder, HttpServer, int]]:
    recorder = Recorder()
    server = HttpServer(recorder, max_body=1000)
    port = await server.start("127.0.0.1", 0)
    yield recorder, server, port
    await server.close(timeout=0.5)


async def exchange(port: int, raw: bytes, *, until_closed: bool = False, count: int = 1) -> bytes:
    """Write `raw`, read until `count` whole replies (or the end of the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = b""
    try:
        async with asyncio.timeout(5):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
                if not until_closed and len(replies(data)) >= count:
                    break
    finally:
        writer.close()
    return data


def replies(data: bytes) -> list[tuple[str, bytes]]:
    """The whole replies in `data` (head, body), interim 100 Continue left out."""
    out: list[tuple[str, bytes]] = []
    position = 0
    while (end := data.find(b"\r\n\r\n", position)) >= 0:
        head = data[position:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if len(data) < end + 4 + length:
            break
        if not head.startswith("HTTP/1.1 100"):
            out.append((head, data[end + 4 : end + 4 + length]))
        position = end + 4 + length
    return out


def bodies(data: bytes) -> list[dict[str, object]]:
    return [json.loads(body) for _, body in replies(data)]


async def test_aiohttp_client_form_json_query_and_keep_alive(served: tuple[Recorder, HttpServer, int]) -> None:
    recorder, _, port = served
    async with aiohttp.ClientSession() as client:
        base = f"http://127.0.0.1:{port}"
        async with client.post(f"{base}/bot1:a/sendMessage?x=1", data={"text": "héllo & bye"}) as response:
            assert response.status == 200 and response.headers["Content-Type"] == "application/json"
            form = await response.json()
        async with client.post(f"{base}/bot1:a/getMe", json={"a": [1]}) as response:
            sent_json = await response.json()
        async with client.get(f"{base}/file/bot1%3Aa/photos/a%20b.png") as response:
            got = await response.json()
    assert form["query"] == {"x": "1"} and form["type"] == "application/x-www-form-urlencoded"
    assert form["body"] == "text=h%C3%A9llo+%26+bye"
    assert sent_json["type"] == "application/json" and json.loads(sent_json["body"]) == {"a": [1]}
    assert got["method"] == "GET" and got["path"] == "/file/bot1:a/photos/a b.png"
    assert len(recorder.requests) == 3


async def test_chunked_body_and_pipelined_requests_in_order(served: tuple[Recorder, HttpServer, int]) -> None:
    _, _, port = served
    raw = (
        b"POST /one HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: y\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    )
    data = await exchange(port, raw, count=2)
    first, second = bodies(data)
    assert (first["path"], first["body"]) == ("/one", "hello world")
    assert (second["path"], second["body"]) == ("/two", "abc")


async def test_expect_continue_is_answered_before_the_body(served: tuple[Recorder, HttpServer, int]) -> None:
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    async with asyncio.timeout(5):
        interim = await reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(b"ok")
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    writer.close()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST /x HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
        (b"POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", b"413"),
        (b"GET /x HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70000, b"431"),
    ],
)
async def test_malformed_requests_are_refused_and_closed(
    served: tuple[Recorder, HttpServer, int], raw: bytes, status: bytes
) -> None:
    recorder, _, port = served
    data = await exchange(port, raw, until_closed=True)
    assert data.startswith(b"HTTP/1.1 " + status)
    assert b"Connection: close" in data
    assert recorder.requests == []


async def test_connection_close_and_http_1_0(served: tuple[Recorder, HttpServer, int]) -> None:
    _, _, port = served
    for raw in (b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n", b"GET /a HTTP/1.0\r\n\r\n"):
        data = await exchange(port, raw, until_closed=True)  # ends: the server closed it
        assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data
    data = await exchange(port, b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"Connection: keep-alive" in data


async def test_a_handler_error_is_a_500(served: tuple[Recorder, HttpServer, int]) -> None:
    _, _, port = served
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        data = await exchange(port, b"GET /fail HTTP/1.1\r\n\r\n", until_closed=True)
    finally:
        loop.set_exception_handler(None)
    assert data.startswith(b"HTTP/1.1 500")
    assert isinstance(reported[0]["exception"], RuntimeError)


async def held_request(recorder: Recorder, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose request the handler has received and holds."""
    recorder.gate = asyncio.Event()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /wait HTTP/1.1\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        while not recorder.requests:
            await asyncio.sleep(0.01)
    return reader, writer


async def test_a_client_that_goes_away_cancels_its_request(served: tuple[Recorder, HttpServer, int]) -> None:
    recorder, _, port = served
    _, writer = await held_request(recorder, port)
    writer.close()
    async with asyncio.timeout(5):
        await recorder.cancelled.wait()


async def test_close_ends_held_requests(served: tuple[Recorder, HttpServer, int]) -> None:
    recorder, server, port = served
    reader, writer = await held_request(recorder, port)
    async with asyncio.timeout(5):
        await server.close(timeout=0.1)
        assert recorder.cancelled.is_set()
        assert await reader.read() == b""  # closed without an answer
    writer.close()


def test_multipart_form_parts() -> None:
    binary = b"\x89PNG\r\n--not-the-boundary\r\n\r\n\x00\xff"
    body = (
        b"preamble\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="chat_id"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
        b"42\r\n"
        b"--XyZ  \r\n"
        b"Content-Disposition: form-data; name=\"photo\"; filename*=utf-8''kad%20ahli.png\r\n"
        b"Content-Type: image/png\r\n\r\n" + binary + b"\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: attachment; filename="x"\r\n\r\n'
        b"not a form field\r\n"
        b"--XyZ--\r\nepilogue"
    )
    chat, photo = multipart_form('multipart/form-data; boundary="XyZ"', body)
    assert (chat.name, chat.data, chat.filename) == ("chat_id", b"42", None)
    assert (photo.name, photo.data, photo.filename, photo.content_type) == ("photo", binary, "kad ahli.png", "image/png")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--a\r\n\r\nx\r\n--a--"),  # no boundary
        ("multipart/form-data; boundary=a", b"--a\r\nContent-Disposition: form-data; name=x\r\n\r\nnever closed"),
        ("multipart/form-data; boundary=a", b"--a\r\nno header colon\r\n\r\nx\r\n--a--"),
        ("multipart/form-data; boundary=a", b"--a junk\r\n\r\nx\r\n--a--"),
    ],
)
def test_multipart_form_refuses_malformed_bodies(content_type: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        multipart_form(content_type, body)


async def test_emulator_routes_and_a_bad_upload(emu: BotApiEmulator) -> None:
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{emu.base_url}/nowhere") as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with client.post(f"{emu.base_url}/file/bot{emu.bot_token}/x") as response:
            assert response.status == 404
        headers = {"Content-Type": "multipart/form-data; boundary=b"}
        async with client.post(f"{emu.api_url}/sendPhoto", data=b"--b\r\nbroken", headers=headers) as response:
            assert response.status == 400
            answer = await response.json()
    assert answer["ok"] is False and answer["description"].startswith("Bad Request: ")
