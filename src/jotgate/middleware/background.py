"""Run a verifier's revocation feed in a thread, for WSGI apps that have no event loop.

The feeds (Redis pub/sub, polling) are asyncio tasks. An ASGI app runs them
on its own loop through ``verifier.lifespan``; a Flask or Django process
runs them here instead, on a private loop in a daemon thread. The feed only
writes the in-memory revocation list that request threads read.

Example::

    verifier = Verifier(keys, algorithms=["ES256"], revocations=RedisRevocations(url))
    feed = start_in_thread(verifier)        # blocks until the first load is done
    ...
    feed.stop()
"""

from __future__ import annotations

import asyncio
import threading

from .verifier import Verifier

__all__ = ["BackgroundFeed", "start_in_thread"]


class BackgroundFeed:
    """A verifier's feed running on a private event loop in a daemon thread."""

    def __init__(self, verifier: Verifier) -> None:
        """Not started; use :func:`start_in_thread`."""
        self._verifier = verifier
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jotgate-revocation-feed", daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start the loop and the feed; raise what the feed's first load raises."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._verifier.start(), self._loop)
        try:
            future.result(timeout)
        except BaseException:
            self._shutdown()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the feed and the thread."""
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._verifier.stop(), self._loop).result(timeout)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def start_in_thread(verifier: Verifier, timeout: float = 30.0) -> BackgroundFeed:
    """Start ``verifier``'s revocation feed on a background thread; stop it with ``.stop()``."""
    feed = BackgroundFeed(verifier)
    feed.start(timeout)
    return feed
