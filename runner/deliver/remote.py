"""What every network destination (sftp/, ftp/) shares: remote paths, the lookups and moves behind
the Destination interface, and the clean-up after a failed delivery. A protocol supplies the
primitives on one session: `_exists`, `_delete`, `_list`, `_rename_now` (one rename, no retry),
`_move` (a rename that tolerates a repeat after a lost answer) and `_classify`; and sets
`settings` (with `host`, `remote_dir`), `project_dir`, `_connector`, `_pool` and `_retrying`.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from pathlib import Path, PurePosixPath
from typing import Any, Generic, Protocol, TypeVar

from runner.deliver import Destination, aside_name
from runner.deliver.retry import ConnectionPool, Retrier
from runner.errors import DeliveryError, FeedsError

log = logging.getLogger(__name__)


class _Session(Protocol):
    def alive(self) -> bool: ...

    def close(self) -> None: ...


S = TypeVar("S", bound=_Session)


class RemoteDestination(Destination, Generic[S]):
    settings: Any
    project_dir: Path
    _connector: Any
    _pool: ConnectionPool[S]
    _retrying: Retrier[S]

    # -- what a protocol supplies ----------------------------------------------------------

    @abstractmethod
    def _exists(self, session: S, path: str) -> bool: ...

    @abstractmethod
    def _delete(self, session: S, path: str) -> None: ...

    @abstractmethod
    def _list(self, session: S, directory: str) -> list[str]: ...

    @abstractmethod
    def _rename_now(self, session: S, source: str, target: str) -> None: ...

    @abstractmethod
    def _move(self, session: S, attempt: int, source: str, target: str) -> None: ...

    @abstractmethod
    def _classify(self, exc: BaseException, session: S | None, what: str) -> DeliveryError: ...

    # -- the Destination interface ---------------------------------------------------------

    @property
    def connection_attempts(self) -> int:
        """Connection attempts made so far (each TCP connect counts); shown in logs and tests."""
        return self._connector.attempts

    def close(self) -> None:
        self._pool.close()

    def exists(self, remote_name: str) -> bool:
        """Whether a file of this final name is waiting in the remote directory now (e.g. not yet
        picked up), or moved aside by a replace that did not finish (``.NAME.old``)."""
        final = self._remote_path(remote_name)
        aside = self._remote_path(aside_name(remote_name))
        return self._retrying(
            f"look up {final}", lambda session, _: self._exists(session, final) or self._exists(session, aside)
        )

    def names(self) -> list[str]:
        directory = self._remote_dir()
        return self._retrying(f"list remote directory {directory}", lambda session, _: self._list(session, directory))

    def remove(self, name: str) -> None:
        path = self._remote_path(name)
        self._retrying(f"remove {path}", lambda session, _: self._remove_if_present(session, path))

    def rename(self, source: str, target: str) -> None:
        old, new = self._remote_path(source), self._remote_path(target)
        self._retrying(f"rename {old} to {new}", lambda session, attempt: self._move(session, attempt, old, new))

    # -- paths -----------------------------------------------------------------------------

    def _resolve(self, path: Path) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.project_dir / path

    def _remote_dir(self) -> str:
        return self.settings.remote_dir.rstrip("/") or "/"

    def _remote_path(self, name: str) -> str:
        if "/" in name or name in ("", ".", ".."):
            raise DeliveryError(f"remote file name {name!r} must be a plain file name without '/'")
        return str(PurePosixPath(self._remote_dir()) / name)

    # -- removing and cleaning up ----------------------------------------------------------

    def _remove_if_present(self, session: S, path: str) -> bool:
        """Remove `path` if it is there (so repeating it after a lost answer is harmless)."""
        if not self._exists(session, path):
            return False
        self._delete(session, path)
        return True

    def _remove_quietly(self, session: S, path: str) -> None:
        try:
            if session.alive():
                self._remove_if_present(session, path)
        except Exception as exc:  # noqa: BLE001  the next delivery removes it
            log.warning("could not remove %s on %s (%s); the next delivery will", path, self.settings.host, exc)

    def _cleanup_after_failure(self, temporary: str, final: str, aside: str) -> None:
        """After a failed delivery, once: put a file moved aside back if nothing replaced it, and
        remove the temporary file. What this cannot do, the next delivery's `tidy` does."""
        host = self.settings.host
        try:
            session = self._pool.acquire()
        except FeedsError as exc:
            log.warning("could not clean up %s on %s after the failed delivery (%s); the next delivery will",
                        final, host, exc)
            return
        try:
            if not self._exists(session, final) and self._exists(session, aside):
                self._rename_now(session, aside, final)
                log.warning("put the waiting file %s back from %s on %s after the failed delivery", final, aside, host)
            if self._remove_if_present(session, temporary):
                log.info("removed %s after the failed delivery", temporary)
        except Exception as exc:  # noqa: BLE001  the delivery's own error is the one to report
            log.warning("could not clean up %s on %s after the failed delivery (%s); the next delivery will",
                        final, host, self._classify(exc, session, "clean up"))
            session.close()
            return
        self._pool.release(session)
