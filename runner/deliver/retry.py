"""Retries, backoff and the connection pool every network destination shares.

A protocol supplies two things: how to open a connection (`connect`) and how to read a failure
(`classify`: any exception -> a DeliveryError whose ``transient`` says whether a retry may cure it).
`Retrier` then runs each remote operation on a pooled connection and, on a transient failure, drops
that connection and runs the operation again on a new one after an exponential backoff with jitter.
Host-key and authentication failures are not transient, so they are raised at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, Generic, Protocol, TypeVar

from runner.errors import DeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Connection(Protocol):
    """What the pool needs of a protocol's connection."""

    def alive(self) -> bool: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=Connection)


class ConnectionPool(Generic[C]):
    """Idle connections kept for the next operation. One thread uses a connection at a time: a
    connection is taken with `acquire` and given back with `release` (or closed when broken)."""

    def __init__(self, connect: Callable[[], C]) -> None:
        self._connect = connect
        self._idle: list[C] = []
        self._lock = threading.Lock()

    def acquire(self) -> C:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.alive():
                    return connection
                connection.close()
        return self._connect()

    def release(self, connection: C) -> None:
        if connection.alive():
            with self._lock:
                self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        with self._lock:
            connections, self._idle = self._idle, []
        for connection in connections:
            connection.close()


class Retrier(Generic[C]):
    """Run remote operations on pooled connections, retrying transient failures."""

    def __init__(
        self,
        pool: ConnectionPool[C],
        classify: Callable[[BaseException, C | None, str], DeliveryError],
        *,
        retries: int,
        backoff: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.pool = pool
        self.classify = classify
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep

    def __call__(self, what: str, action: Callable[[C, int], T]) -> T:
        """`action(connection, attempt)` for one remote operation, `what` naming it in messages. A
        transient failure (reset, EOF, timeout, refused connection) closes the connection and runs the
        action again on a new one after a backoff; anything else is raised at once. Actions must be safe
        to repeat: `attempt` > 0 tells them an earlier try may have half-happened."""
        attempts = self.retries + 1
        for attempt in range(attempts):
            connection: C | None = None
            try:
                connection = self.pool.acquire()
                result = action(connection, attempt)
            except Exception as exc:
                error = self.classify(exc, connection, what)
                if connection is not None:
                    if error.transient:
                        connection.close()
                    else:
                        self.pool.release(connection)
                if not error.transient:
                    raise error from None
                if attempt == attempts - 1:
                    raise TransientDeliveryError(f"{error} (gave up after {attempts} attempts)") from None
                delay = self.delay(attempt)
                log.warning("%s; retrying in %.1fs (attempt %d of %d)", error, delay, attempt + 2, attempts)
                self._sleep(delay)
                continue
            self.pool.release(connection)
            return result
        raise AssertionError("unreachable")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before try `attempt + 2`: doubling from `backoff`, plus up to half again of jitter."""
        base = self.backoff * (2**attempt)
        return base + random.uniform(0, base / 2) if base else 0.0


__all__ = ["Connection", "ConnectionPool", "Retrier"]
