"""Leases: which one of several collectors sharing a database runs evaluation ticks and housekeeping.

Ingest needs none (every write adds or is idempotent). A tick runs only in the collector holding the lease
`evaluation`, a row in `leases` (migration 17) that the holder renews every third of `lease_seconds` from a
background thread; the others stand by and try to take it at the same pace, which succeeds once it has not
been renewed for `lease_seconds` (the holder died, hung or lost its database). So each changed window is
evaluated once, by one collector, and a dead holder's work moves on within `lease_seconds` plus a third of
it. Expiry is judged on each collector's own clock: keep them in step (NTP) to well under the period.
SQLite has one writer anyway; the lease works the same there, for collectors sharing one file.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from collector import db, repository

log = logging.getLogger("driftline.leases")

#: The lease under which ticks (evaluation, roll-ups, retention) run.
EVALUATION = "evaluation"


def holder_id() -> str:
    """This process as a lease holder: host and process id. A collector restarted with both the same (a
    container's pid 1 on the same host) is the same holder and takes its lease back at once; the old
    process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """One named lease, taken and renewed by this process; `held` says whether it may act on it now."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        seconds: float,
        name: str = EVALUATION,
        holder: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.seconds = seconds
        self.name = name
        self.holder = holder or holder_id()
        self._valid_until = 0.0  # time.monotonic() until which this process holds it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lease now, by its own clock (a renewal that failed counts not)."""
        return time.monotonic() < self._valid_until

    def acquire(self) -> bool:
        """Take the lease, or renew it where held; False while another holder's lease runs, or when the
        database cannot be reached (then this process stops acting as holder too)."""
        started = time.monotonic()
        try:
            with self.sessions.begin() as s:
                held = repository.take_lease(
                    s, name=self.name, holder=self.holder, now=db.utcnow(), seconds=self.seconds
                )
        except Exception as exc:  # storage down: stand by until it answers
            log.warning("lease %s: cannot renew (%s); standing by", self.name, type(exc).__name__)
            held = False
        was = self.held
        self._valid_until = started + self.seconds if held else 0.0
        if held != was:
            log.info("lease %s: %s by %s", self.name, "taken" if held else "lost", self.holder)
        return held

    def release(self) -> None:
        """Give the lease up (on shutdown), so a standing-by collector takes it without waiting."""
        self._valid_until = 0.0
        try:
            with self.sessions.begin() as s:
                repository.release_lease(s, name=self.name, holder=self.holder)
        except Exception as exc:  # it expires on its own
            log.warning("lease %s: not released (%s); it expires on its own", self.name, type(exc).__name__)

    def start_renewing(self) -> None:
        """Renew (or try to take) the lease every third of its period on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"driftline-lease-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop renewing and give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.release()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            self.acquire()
