"""WAL checkpoints in a thread of their own, off the event loop.

In WAL mode SQLite appends each commit to `<db>-wal`; a checkpoint copies those pages back
into the database file and syncs it. By default the connection whose commit takes the WAL
past 1000 pages runs that checkpoint inside its COMMIT. Our statements run inline on the
event loop (`sqlite_inline`), so that COMMIT stopped the whole process: with the bot
writing about 8 pages per sale claim, every 120th or so claim took 5-10 ms longer, and
up to 90 ms when the disk was slow, and every update queued behind it waited as long
(benchmarks/README.md, "WAL checkpoints").

A `Database` made with a checkpoint interval has a `WalCheckpointer` run
`PRAGMA wal_checkpoint(PASSIVE)` every interval on its own connection in its own thread:
sqlite3 releases the GIL while it copies and syncs, so the bot goes on meanwhile, and
PASSIVE never waits for readers or writers. Several processes (the bot and its update
workers) may each run one: when one is checkpointing, another's attempt returns at once.

Copying is not all a checkpoint is for: once every page is copied, the next transaction
that begins starts the WAL again from its beginning. While commits keep coming, a thread's
checkpoints never end at a moment no transaction is under way, so they alone let the WAL
grow without end (to 560 MB in a 20 s benchmark). So the connections keep SQLite's own
checkpoint in the commit, only later: at `AUTOCHECKPOINT_PAGES` (16 MB) instead of 1000
pages. By then the thread has copied nearly everything, and that checkpoint, which still
stops its process, only copies the last pages and syncs (once per 4,096 pages written: about
every 2 s at 300 sale claims a second, against every 0.4 s before), after which the WAL
starts over. The last connection to close checkpoints the rest, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 1.0
AUTOCHECKPOINT_PAGES = 4096  # the commit that takes the WAL this long checkpoints (SQLite's default: 1000)


class CheckpointResult(NamedTuple):
    busy: bool  # another connection was checkpointing
    wal_pages: int  # pages in the WAL
    copied_pages: int  # of those, copied into the database file so far


class WalCheckpointer:
    """Checkpoints one SQLite file every `interval` seconds."""

    def __init__(self, path: str, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        self.path = path
        self.interval = interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        self._connection: sqlite3.Connection | None = None  # used only in the executor's thread
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.last: CheckpointResult | None = None  # of the periodic checkpoints

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin the periodic checkpoints (in the running event loop); once."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="wal-checkpoint")

    async def checkpoint(self) -> CheckpointResult:
        """One PASSIVE checkpoint now, in the checkpoint thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._checkpoint)

    async def close(self) -> None:
        """Stop the checkpoints; waits for one in progress, then closes the connection."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # The executor runs one job at a time: this waits for a checkpoint still copying.
        await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.last = await self.checkpoint()
            except sqlite3.Error as error:
                # The bot keeps working without checkpoints, the WAL only grows meanwhile.
                if not failing:
                    log.warning("WAL checkpoint failed (%s); retrying every %.1f s", error, self.interval)
                failing = True
                await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
            else:
                if failing:
                    log.info("WAL checkpoints work again")
                failing = False

    def _checkpoint(self) -> CheckpointResult:
        if self._connection is None:
            self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # fetchall: the statement ends here, not when the cursor is collected.
        ((busy, wal_pages, copied),) = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return CheckpointResult(bool(busy), wal_pages, copied)

    def _disconnect(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()
