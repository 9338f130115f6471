"""The emulator's HTTP/1.1 server: what a Bot API client sends, answered in one write.

The emulator stands in for Telegram, which a real deployment reaches over the network: in the
benchmarks it runs on the same two cores as the bot it measures, so its own CPU per request is
taken from the bot. Through aiohttp's web server a Bot API call cost the emulator about
0.24 ms of CPU (request and response objects, the router, the headers and the body written
with two `send` calls); this server, about half of that. It serves exactly what the Bot API
clients send (aiogram's aiohttp session, the bot's own `HttpPool`, tests' raw requests):

* HTTP/1.1 with keep-alive (HTTP/1.0 and `Connection: close` are answered and closed);
  requests sent back to back on one connection are answered in order, one at a time;
* bodies by `Content-Length` or chunked (aiohttp sends a multipart upload chunked);
  `Expect: 100-continue` is answered before the body is read;
* a request whose client goes away is cancelled (a long poll of a bot that stopped);
* malformed requests get `400`, bodies over the limit `413`, and the connection is closed.

The handler gets a `Request` with the whole body and returns a `Reply`; an exception in it is
a `500` (and is logged by the caller's event loop, not hidden).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

from loyaltybot.bot.http import HttpError, dechunk

MAX_HEAD_BYTES = 64 * 1024


@dataclass(slots=True)
class Request:
    method: str
    path: str  # percent-decoded
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


Handler = Callable[[Request], Awaitable[Reply]]


@functools.cache
def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


def encode_reply(reply: Reply, *, keep_alive: bool) -> bytes:
    return b"%sServer: loyaltybot-sandbox\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s" % (
        _status_line(reply.status),
        reply.content_type.encode("latin-1"),
        len(reply.body),
        b"keep-alive" if keep_alive else b"close",
        reply.body,
    )


class _Head:
    __slots__ = ("method", "target", "headers", "keep_alive", "length", "chunked")

    def __init__(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
            raise HttpError("not an HTTP/1.x request line")
        self.method, self.target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError("malformed header")
            name = name.lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        self.keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
        self.chunked = headers.get("transfer-encoding", "").lower().endswith("chunked")
        length = headers.get("content-length")
        if length is not None and (self.chunked or not length.isdigit()):
            raise HttpError("malformed Content-Length")
        self.length = int(length) if length is not None else 0


class _Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: _Head | None = None
        self._continued = False
        self._task: asyncio.Task[None] | None = None  # the request being answered
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the client is gone: nobody reads the answer

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._task is None:
            self._next()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _fail(self, status: int) -> None:
        assert self._transport is not None
        self._transport.write(encode_reply(Reply(status, b""), keep_alive=False))
        self.close()

    def _next(self) -> None:
        """Start answering the next complete request in the buffer, if there is one."""
        if self._closing:
            return
        buffer = self._buffer
        try:
            if self._head is None:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_HEAD_BYTES:
                        self._fail(431)
                    return
                self._head = _Head(bytes(buffer[:end]))
                del buffer[: end + 4]
                self._continued = False
            head = self._head
            if head.length > self._server.max_body:
                self._fail(413)
                return
            if head.chunked:
                found = dechunk(buffer)
                if found is None:
                    if len(buffer) > self._server.max_body:
                        self._fail(413)
                    else:
                        self._continue(head)
                    return
                body, end = found
            elif len(buffer) < head.length:
                self._continue(head)
                return
            else:
                body, end = bytes(buffer[: head.length]), head.length
        except HttpError:
            self._fail(400)
            return
        del buffer[:end]
        self._head = None
        target, _, query = head.target.partition("?")
        request = Request(
            head.method, unquote(target), dict(parse_qsl(query, keep_blank_values=True)), head.headers, body
        )
        self._task = asyncio.get_running_loop().create_task(self._answer(request, head.keep_alive))

    def _continue(self, head: _Head) -> None:
        if not self._continued and head.headers.get("expect", "").lower() == "100-continue":
            self._continued = True
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _answer(self, request: Request, keep_alive: bool) -> None:
        try:
            reply = await self._server.handler(request)
        except Exception as error:  # noqa: BLE001 - reported to the loop's handler, answered 500
            reply = Reply(500, b'{"ok":false,"error_code":500,"description":"Internal Server Error"}')
            keep_alive = False
            asyncio.get_running_loop().call_exception_handler(
                {"message": "sandbox HTTP handler failed", "exception": error}
            )
        transport = self._transport
        if self._closing or transport is None or transport.is_closing():
            return
        transport.write(encode_reply(reply, keep_alive=keep_alive and not self._server.closing))
        if not keep_alive or self._server.closing:
            self.close()
            return
        self._task = None
        if self._buffer:
            self._next()


@dataclass(slots=True)
class FormPart:
    name: str
    data: bytes
    filename: str | None
    content_type: str | None


def multipart_form(content_type: str, body: bytes) -> list[FormPart]:
    """The parts of a `multipart/form-data` body (`content_type`: the whole header, with its
    boundary). Raises ValueError if the body is not one."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("no multipart boundary")
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    parts: list[FormPart] = []
    for section in sections[1:]:  # before the first boundary: a preamble, ignored
        if section.startswith(b"--"):
            return parts  # the closing boundary
        line_end = section.find(b"\r\n")
        if line_end < 0 or section[:line_end].strip(b" \t"):
            raise ValueError("malformed multipart boundary line")
        section = section[line_end + 2 :]
        if section.startswith(b"\r\n"):
            raw_headers, data = b"", section[2:]
        else:
            raw_headers, sep, data = section.partition(b"\r\n\r\n")
            if not sep:
                raise ValueError("malformed multipart part")
        fields = Message()
        for line in raw_headers.decode("utf-8", "replace").split("\r\n") if raw_headers else ():
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError("malformed multipart part header")
            fields[name.strip()] = value.strip()
        name = fields.get_param("name", header="content-disposition")
        if name is None:
            continue  # not a form field
        parts.append(
            FormPart(
                collapse_rfc2231_value(name), data, fields.get_filename(), fields.get("content-type")
            )
        )
    raise ValueError("the multipart body has no closing boundary")


class HttpServer:
    """Listens on `host:port` (0: any free port) and answers every request with `handler`."""

    def __init__(self, handler: Handler, *, max_body: int) -> None:
        self.handler = handler
        self.max_body = max_body
        self.connections: set[_Connection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Start listening; the port it listens on."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self, timeout: float) -> None:
        """Stop listening, close every connection (cancelling what they still wait for)."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        tasks = [c._task for c in self.connections if c._task is not None and not c._task.done()]
        if tasks:  # answers being written: a moment to finish before their connections close
            await asyncio.wait(tasks, timeout=timeout)
        for connection in list(self.connections):
            connection.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
