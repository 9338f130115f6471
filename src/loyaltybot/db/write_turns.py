"""Processes that write one SQLite database take turns, woken the moment the turn is theirs.

SQLite lets one connection write at a time. Inside a process our writers share one
connection and queue in asyncio; with update workers (WORKERS=N) several processes write the
same file, and a writer that finds the lock taken can only try again later (SQLite's busy
handler sleeps and polls, `sqlite_inline` retries after an `asyncio.sleep`). Polling is
both late and unfair: the lock is free well before the next try, and a process with a queue
of its own writers takes it again at once, so the other process's writer can lose round
after round. With two workers at 300 sale claims/s a fifth of the transactions met the lock
taken and waited 2.5 ms at the median, up to 80 ms (`benchmarks/bench_claims.py --workers 2`).

`WriteTurns` puts a lock the kernel manages in front of SQLite's: a writer takes an
exclusive `flock` on `<database>-writer` before `BEGIN IMMEDIATE` and lets go after its
COMMIT or ROLLBACK. Free, it is taken with one non-blocking call. Taken, a thread of ours
waits for it in the kernel, which wakes that thread when the holder lets go, and the event
loop goes on with other updates meanwhile. To take turns, a waiting writer holds a shared
`flock` on `<database>-writer-queue`; a writer that sees someone queued there does not take
the free lock in passing but queues too.

Only processes that write through `WriteTurns` take turns; anyone else (the `sqlite3` shell,
a migration) still meets SQLite's own lock, which `sqlite_inline` keeps waiting for as
before. The kernel drops a process's `flock`s when it exits, however it exits. Where there
is no `flock` (Windows), `available()` is false and writers poll as before.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def available() -> bool:
    return fcntl is not None


class WriteTurns:
    """One connection's place in the turns of the writers of a database file."""

    def __init__(self, database: str) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            raise RuntimeError("flock is not available on this platform")
        self.path = f"{database}-writer"
        self._turn = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._queue = os.open(f"{database}-writer-queue", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            os.close(self._turn)
            raise
        self.held = False
        self.waits = 0  # turns that had to wait for another writer (for tests and benchmarks)
        self._requests: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None] | None = None
        self._thread: threading.Thread | None = None
        self._pending = 0  # requests the thread has not handed back yet
        self._handed = threading.Event()  # the loop has dealt with the thread's last grant
        self._closed = False

    def _take_free(self) -> bool:
        """Take the turn if it is free and nobody is queued for it (no waiting)."""
        try:
            fcntl.flock(self._queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another writer waits: queue behind it
        fcntl.flock(self._queue, fcntl.LOCK_UN)
        try:
            fcntl.flock(self._turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    async def take(self, timeout: float) -> None:
        """Wait for this connection's turn to write, at most `timeout` seconds
        (then `TimeoutError`, holding nothing)."""
        if self._closed:
            raise RuntimeError("closed")
        if self.held:
            raise RuntimeError("this connection already has the turn")
        # While the thread still has a request (one given up after a timeout), only the
        # thread takes the turn: the lock and the queue mark are on the same open files.
        if self._pending == 0 and self._take_free():
            self.held = True
            return
        self.waits += 1
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()
        self._pending += 1
        self._waiter().put((loop, granted))
        # On a timeout or cancellation the future is cancelled, and the thread, once the
        # kernel gives it the turn, hands the turn straight back (`_granted`).
        await asyncio.wait_for(granted, timeout)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    def close(self) -> None:
        """Let go of the turn and the files (the waiting thread closes them once it is idle)."""
        if self._closed:
            return
        self.release()
        self._closed = True
        if self._requests is None:
            self._close_files()
        else:
            self._requests.put(None)

    # ------------------------------------------------------------------ the waiting thread
    def _waiter(self) -> queue.SimpleQueue[Any]:
        if self._requests is None:
            self._requests = queue.SimpleQueue()
            # A daemon: a writer of another process that never lets go must not keep this
            # process from exiting.
            self._thread = threading.Thread(target=self._wait_turns, name="sqlite-write-turns", daemon=True)
            self._thread.start()
        return self._requests

    def _wait_turns(self) -> None:
        assert self._requests is not None
        while (request := self._requests.get()) is not None:
            loop, granted = request
            try:
                fcntl.flock(self._queue, fcntl.LOCK_SH)  # "I am waiting": others stop taking it in passing
                try:
                    fcntl.flock(self._turn, fcntl.LOCK_EX)
                finally:
                    fcntl.flock(self._queue, fcntl.LOCK_UN)
            except OSError as error:
                self._settle(loop, granted, error)
                continue
            self._settle(loop, granted, None)
        self._close_files()

    def _settle(self, loop: asyncio.AbstractEventLoop, granted: asyncio.Future[None], error: OSError | None) -> None:
        """Hand the outcome to the event loop and wait until it has dealt with it, so that
        a turn given back there is given back before the thread waits for the next one."""
        try:
            loop.call_soon_threadsafe(self._granted, granted, error)
        except RuntimeError:  # the loop is closed: nobody wants the turn any more
            if error is None:
                fcntl.flock(self._turn, fcntl.LOCK_UN)
            return
        self._handed.wait()
        self._handed.clear()

    def _granted(self, granted: asyncio.Future[None], error: OSError | None) -> None:
        self._pending -= 1
        if granted.done():  # the writer stopped waiting (timeout, cancelled): hand the turn back
            if error is None:
                fcntl.flock(self._turn, fcntl.LOCK_UN)
        elif error is not None:
            granted.set_exception(error)
        else:
            granted.set_result(None)
        self._handed.set()

    def _close_files(self) -> None:
        os.close(self._turn)
        os.close(self._queue)
