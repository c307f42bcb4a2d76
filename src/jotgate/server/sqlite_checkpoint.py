"""WAL checkpoints for the SQLite writer, in a thread of their own.

In WAL mode a commit appends pages to the ``-wal`` file, and a checkpoint
later copies them into the database file. By default the connection whose
commit pushes the WAL past 1000 pages runs that checkpoint itself, right
after its commit: with :mod:`.sqlite_writer`'s one thread doing every
refresh, that meant a pause for the copy and two ``fsync`` calls every few
batches, during which no rotation could run (measured: about half of the
writer's time per rotation). Here the writer's connection checkpoints only
as a last resort (:data:`WRITER_AUTOCHECKPOINT` pages), and this thread runs
``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection shortly after
commits. A passive checkpoint never takes the write lock, so rotations keep
committing while it copies; durability is unchanged (``synchronous=NORMAL``:
the WAL is synced before it is copied, the database file after).

Several processes may each run one: SQLite lets one checkpoint run at a
time, and a second simply finds less (or nothing) to do.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Final

__all__ = ["WRITER_AUTOCHECKPOINT", "WalCheckpointer"]

log = logging.getLogger("jotgate.server")

#: The writer connection's own auto-checkpoint threshold, in pages (4 KiB
#: each): only reached if this thread falls far behind or has died.
WRITER_AUTOCHECKPOINT: Final = 16_000
#: Checkpoints are at least this far apart (seconds): each costs two fsyncs,
#: and pages written again meanwhile are copied once.
MIN_INTERVAL: Final = 0.2


class WalCheckpointer:
    """Checkpoints one SQLite database's WAL in a daemon thread, when nudged."""

    def __init__(self, path: str, *, min_interval: float = MIN_INTERVAL) -> None:
        self._path = path
        self._min_interval = min_interval
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Checkpoints run so far (for tests and diagnostics).
        self.runs = 0

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._serve, name="jotgate-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """Something was committed: checkpoint soon (at most once per interval)."""
        if not self._wake.is_set():
            self._wake.set()

    def stop(self) -> None:
        """Run a last checkpoint and stop the thread; blocks until it has."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._thread = None

    def _serve(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(self._path, isolation_level=None, timeout=5.0)
            connection.execute("PRAGMA synchronous=NORMAL")
            while True:
                self._wake.wait()
                if not self._stopping:
                    # Let more commits pile up: their pages are copied once.
                    time.sleep(self._min_interval)
                self._wake.clear()
                self._checkpoint(connection)
                if self._stopping:
                    return
        except sqlite3.Error as exc:
            # The writer's own auto-checkpoint (WRITER_AUTOCHECKPOINT) takes over.
            log.warning("SQLite WAL checkpoints stopped: %s", exc)
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.runs += 1
        except sqlite3.OperationalError as exc:
            # Busy (another process's checkpoint or a lock): the next nudge retries.
            log.debug("SQLite WAL checkpoint skipped: %s", exc)
