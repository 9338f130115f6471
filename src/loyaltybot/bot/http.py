"""A small HTTP/1.1 keep-alive client for the Bot API's form-encoded POST requests.

Every Bot API call the bot makes without a file is one `POST` of a URL-encoded form to one
host, answered with JSON. Through aiohttp's general-purpose client such a call cost about
0.4 ms of CPU (request and response objects, header multidicts, the body written from a task
of its own, timers); through this client about half of that (README, "How the bot talks to
the Bot API"). It does only what those requests need:

* connections are kept alive and reused, at most `limit` at once; one idle for more than
  `keepalive` seconds is never used again and is closed by the next request, before a server
  is likely to close it itself;
* HTTPS through the standard `ssl` module (certifi's CA bundle, as aiogram's own session);
* response bodies by `Content-Length`, chunked, or up to the end of the connection;
* one deadline for the whole request (connect, send, answer); a request that fails or times
  out closes its connection, because its state is unknown.

A request is never retried here: a POST such as sendMessage may have reached the server
before the connection broke. The caller decides (the outbox retries with its own
idempotency; a handler's reply fails like any network error).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


class HttpError(Exception):
    """The connection broke, or the server's answer was not valid HTTP/1.1."""


def dechunk(buffer: bytes | bytearray, position: int = 0) -> tuple[bytes, int] | None:
    """A whole chunked body starting at `position`: the body and where it ends in `buffer`,
    or None until all of it has arrived. Raises HttpError if it is not valid chunked coding."""
    body = bytearray()
    while True:
        end = buffer.find(b"\r\n", position)
        if end < 0:
            return None
        size_text = bytes(buffer[position:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError("malformed chunk size") from None
        if size < 0:
            raise HttpError("malformed chunk size")
        position = end + 2
        if size == 0:
            # Trailers (usually none), then an empty line.
            while True:
                end = buffer.find(b"\r\n", position)
                if end < 0:
                    return None
                if end == position:
                    return bytes(body), end + 2
                position = end + 2
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size : position + size + 2] != b"\r\n":
            raise HttpError("malformed chunk")
        body += buffer[position : position + size]
        position += size + 2


class _Connection(asyncio.Protocol):
    """One connection, one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._head: tuple[int, bool, int | None, bool] | None = None  # status, keep-alive, length, chunked

    # ---------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: the server is not speaking HTTP to us
            self._fail(HttpError("unexpected data from the server"))
            return
        self._buffer += data
        try:
            self._parse(eof=False)
        except HttpError as error:
            self._fail(error)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse(eof=True)
            except HttpError as error:
                self._waiter.set_exception(error)
                return
            if not self._waiter.done():
                self._waiter.set_exception(HttpError(f"the server closed the connection: {exc or 'end of stream'}"))

    # ---------------------------------------------------------------- requests
    def request(self, head: bytes, body: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        assert self.transport is not None and self._waiter is None
        self._buffer.clear()
        self._head = None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head + body)
        return self._waiter

    def done(self) -> None:
        self._waiter = None

    def reusable(self, now: float, keepalive: float) -> bool:
        """Open, and idle for at most `keepalive` seconds."""
        transport = self.transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since <= keepalive
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.close()

    # ---------------------------------------------------------------- response parsing
    def _parse(self, *, eof: bool) -> None:
        buffer = self._buffer
        while self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEADER_BYTES:
                    raise HttpError("response headers too long")
                return
            head = self._parse_head(bytes(buffer[:end]))
            del buffer[: end + 4]
            if 100 <= head[0] < 200:  # an interim answer (100 Continue): the real one follows
                continue
            self._head = head
        status, keep_alive, length, chunked = self._head
        if chunked:
            dechunked = dechunk(buffer)
            if dechunked is None:
                if eof:
                    raise HttpError("the connection closed inside a chunked body")
                return
            body = dechunked[0]
        elif length is not None:
            if len(buffer) < length:
                if eof:
                    raise HttpError("the connection closed before the whole body arrived")
                return
            body = bytes(buffer[:length])
        else:  # delimited by the end of the connection
            if not eof:
                return
            body, keep_alive = bytes(buffer), False
        assert self._waiter is not None
        if not self._waiter.done():
            self._waiter.set_result((status, body, keep_alive))

    @staticmethod
    def _parse_head(raw: bytes) -> tuple[int, bool, int | None, bool]:
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        keep_alive = version == "HTTP/1.1"
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError("malformed response header")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit():
                    raise HttpError("malformed Content-Length")
                length = int(value)
            elif name == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
            elif name == "connection":
                tokens = {token.strip().lower() for token in value.split(",")}
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        status = int(code)
        if status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        return status, keep_alive, length, chunked


class HttpPool:
    """Keep-alive connections to the hosts of the URLs it is given.

    `ssl_context` is for HTTPS: a context, or a function that makes one when the first HTTPS
    connection opens (loading a CA bundle takes ~50 ms of start-up, which a Bot API server
    reached over plain HTTP, such as a local one, never needs); None: the system's defaults.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext] | None = None,
        limit: int = 100,
        keepalive: float = 15.0,
        user_agent: str = "loyaltybot",
    ) -> None:
        self._ssl_context = ssl_context
        self._user_agent = user_agent.encode("latin-1")
        self._slots = asyncio.Semaphore(limit)
        self._keepalive = keepalive
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, tuple[tuple[str, str, int], bytes]] = {}
        self._pruned = time.monotonic()

    async def post(self, url: str, body: bytes, *, content_type: str, timeout: float) -> tuple[int, bytes]:
        """POST `body` to `url`: the status and the response body. Raises HttpError, TimeoutError."""
        key, path_and_host = self._target(url)
        head = b"POST %s\r\nUser-Agent: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            path_and_host,
            self._user_agent,
            content_type.encode("latin-1"),
            len(body),
        )
        async with asyncio.timeout(timeout), self._slots:
            connection = self._take_idle(key) or await self._connect(key)
            self._busy.add(connection)
            try:
                status, answer, keep_alive = await connection.request(head, body)
            except BaseException:  # a timeout, a cancellation or a broken connection: unusable
                connection.close()
                raise
            finally:
                connection.done()
                self._busy.discard(connection)
            now = time.monotonic()
            if keep_alive and not connection.closed:
                connection.idle_since = now
                self._idle.setdefault(key, deque()).append(connection)
            else:
                connection.close()
            if now - self._pruned > self._keepalive:
                self._prune(now)
            return status, answer

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()
        self._busy.clear()

    @property
    def idle_connections(self) -> int:
        return sum(len(connections) for connections in self._idle.values())

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes]:
        known = self._targets.get(url)
        if known is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise HttpError(f"not an http(s) URL: {parts.scheme}://{parts.hostname}")
            default_port = 443 if parts.scheme == "https" else 80
            port = parts.port or default_port
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # an IPv6 literal
            host = name if port == default_port else f"{name}:{port}"
            line = f"{path} HTTP/1.1\r\nHost: {host}".encode("latin-1")
            known = ((parts.scheme, parts.hostname, port), line)
            if len(self._targets) < 1024:  # one per Bot API method in practice
                self._targets[url] = known
        return known

    def _prune(self, now: float) -> None:
        """Close the connections idle for longer than `keepalive` (after a burst, most of them)."""
        self._pruned = now
        for connections in self._idle.values():
            keep: list[_Connection] = []
            for connection in connections:
                if connection.reusable(now, self._keepalive):
                    keep.append(connection)
                else:
                    connection.close()
            connections.clear()
            connections.extend(keep)

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        connections = self._idle.get(key)
        now = time.monotonic()
        while connections:
            connection = connections.pop()  # the most recently used: the least likely to be stale
            if connection.reusable(now, self._keepalive):
                return connection
            connection.close()
        return None

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        try:
            if scheme == "https":
                context = self._ssl_context
                if callable(context):
                    context = self._ssl_context = context()
                context = context or ssl.create_default_context()
                _, connection = await loop.create_connection(_Connection, host, port, ssl=context, server_hostname=host)
            else:
                _, connection = await loop.create_connection(_Connection, host, port)
        except (OSError, ssl.SSLError) as error:
            raise HttpError(f"cannot connect to {host}:{port}: {error}") from error
        return connection
