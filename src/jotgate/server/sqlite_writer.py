"""One writer thread per process for SQLite's hottest writes, with group commit.

SQLite lets one transaction write at a time. Through the async engine every
unit of work takes a pooled connection and waits for the write lock in
SQLite's busy handler, which sleeps (1, 2, 5, 10... ms) instead of queueing:
under a burst of refreshes most of the time went to those sleeps and to
thread hops, one per statement. Here, work for the database is a plain
function of a ``sqlite3`` connection, queued to one thread that owns its own
connection; the thread takes whatever is queued, runs it all in one
``BEGIN IMMEDIATE`` transaction and commits once: one write lock, one WAL
append and one wake-up of the event loop per batch. A function that raises
has its own writes undone and no one else's (see :func:`_run`).

Other processes and the async engine's own writers (logins, logouts) still
meet this connection at SQLite's write lock. The writer waits for it with
its own short, doubling sleeps (0.2 ms up to 4 ms) rather than SQLite's busy
handler, whose sleeps grow to 100 ms: with two server processes each
holding the lock for a batch of a millisecond or two, those long sleeps
were most of a refresh's latency. Results (or exceptions) reach the awaiting
coroutine only after the commit: nothing a caller is told about is ever
rolled back afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

__all__ = ["SqliteWriter", "WriterClosed"]

log = logging.getLogger("jotgate.server")

T = TypeVar("T")

#: Jobs committed together at most (a bound on how long one batch holds the lock).
BATCH_LIMIT: Final = 64
#: How long the writer waits for SQLite's write lock before the batch fails.
LOCK_TIMEOUT: Final = 30.0
_FIRST_PAUSE: Final = 0.0002
_LONGEST_PAUSE: Final = 0.004


class WriterClosed(RuntimeError):
    """The writer was closed before it could run the work."""


class _Job(Generic[T]):
    __slots__ = ("error", "future", "loop", "result", "work")

    def __init__(
        self,
        work: Callable[[sqlite3.Connection], T],
        future: asyncio.Future[T],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.work = work
        self.future = future
        self.loop = loop
        self.result: T | None = None
        self.error: BaseException | None = None


def _run(connection: sqlite3.Connection, batch: list[_Job[Any]]) -> list[_Job[Any]]:
    """Run a batch inside its transaction; the jobs to run again if it was rolled back.

    No savepoint per job (two statements, two trips through the GIL, each):
    a job that fails before writing anything, as refusals do, leaves
    nothing to undo, which ``total_changes`` proves. One that fails after
    writing rolls the whole transaction back and keeps its error; the jobs
    before it (their writes undone) and after it (never run) go again.
    """
    for index, job in enumerate(batch):
        before = connection.total_changes
        try:
            job.result = job.work(connection)
        except Exception as exc:  # the job's own failure
            job.error = exc
            if connection.total_changes != before or not connection.in_transaction:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                return batch[:index] + batch[index + 1 :]
    return []


def _deliver(jobs: list[_Job[Any]]) -> None:
    """On the event loop: hand each job's outcome to its (maybe cancelled) future."""
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


class SqliteWriter:
    """Runs write functions for one SQLite database file in a dedicated thread.

    >>> writer = SqliteWriter("/tmp/auth.db")       # doctest: +SKIP
    >>> writer.start()                              # doctest: +SKIP
    >>> await writer.run(lambda c: c.execute("DELETE FROM t").rowcount)  # doctest: +SKIP
    """

    def __init__(
        self, path: str, *, batch_limit: int = BATCH_LIMIT, lock_timeout: float = LOCK_TIMEOUT
    ) -> None:
        self._path = path
        self._lock_timeout = lock_timeout
        self._batch_limit = batch_limit
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._ready = threading.Event()
        self._failed: BaseException | None = None

    def start(self) -> None:
        """Open the connection in the writer thread; raises if it cannot be opened."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._serve, name="jotgate-sqlite-writer", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` inside a write transaction; its result once committed.

        ``work`` runs in the writer thread: it must not touch the event loop
        and should be short (it holds SQLite's write lock for everyone).
        An exception it raises undoes its own writes and is raised here.
        """
        if self._closed or self._thread is None:
            raise WriterClosed("the SQLite writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(work, future, loop))
        return await future

    async def close(self) -> None:
        """Finish queued work, then stop the thread and close its connection."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # -- the writer thread ---------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path,
            timeout=self._lock_timeout,  # for the set-up below only
            isolation_level=None,  # transactions are begun explicitly below
            check_same_thread=True,
        )
        # The async engine's pragmas (see .database)...
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")
        # ...but no busy handler from now on: _begin waits for the write lock itself.
        connection.execute("PRAGMA busy_timeout=0")
        return connection

    def _serve(self) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:  # reported by start()
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._batch_limit:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                self._commit(connection, batch)
        finally:
            connection.close()
            # Anything queued after the stop signal is refused, never dropped silently.
            leftovers: list[_Job[Any]] = []
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.error = WriterClosed("the SQLite writer was closed")
                    leftovers.append(job)
            self._hand_back(leftovers)

    def _commit(self, connection: sqlite3.Connection, batch: list[_Job[Any]]) -> None:
        redo: list[_Job[Any]] = []
        try:
            self._begin(connection)
            redo = _run(connection, batch)
            if connection.in_transaction:
                connection.execute("COMMIT")
        except sqlite3.Error as exc:
            # The batch as a whole failed (disk full, I/O error, lock timeout):
            # nothing of it was committed, so no job may report success.
            log.warning("SQLite write batch of %d failed: %s", len(batch), exc)
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            for job in batch:
                job.result = None
                job.error = exc
            redo = []
        self._hand_back([job for job in batch if job not in redo])
        for job in redo:
            job.result = None
            self._commit(connection, [job])

    def _begin(self, connection: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, retried with short pauses while another connection writes."""
        deadline = time.monotonic() + self._lock_timeout
        pause = _FIRST_PAUSE
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                # The extended code: SQLITE_BUSY_RECOVERY (another connection
                # rebuilding the WAL index) and the like are waits too.
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    @staticmethod
    def _hand_back(jobs: list[_Job[Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job[Any]]] = {}
        for job in jobs:
            by_loop.setdefault(job.loop, []).append(job)
        for loop, done in by_loop.items():
            # RuntimeError: that loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, done)
