"""Retention: stored rows older than the spec's periods (`retention`) are deleted, each kind by its own.

It runs in the evaluation tick, so under the lease (`collector.leases`): one collector of several deletes.
Where TimescaleDB is created, its retention policies drop the hypertables' old chunks (records and the
evaluated windows); everywhere else, and for the plain tables (labels, aggregates), rows are deleted in
batches of `BATCH`, each in its own transaction, so a large backlog never holds long locks, and counted on
/metrics by table (`contract.RETENTION_DELETED`).

Aggregates are cut at whole hours, so an hour roll-up and its minutes always leave together.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session, sessionmaker

from collector import db, dialects
from collector.metrics import MetricsState
from spec import ResolvedSpec

log = logging.getLogger("driftline.retention")

#: Rows deleted per statement (and transaction).
BATCH = 10_000
#: Seconds between two runs in the lease holder: old rows are never urgent.
EVERY = 300.0
#: Each kind's tables and the time its age is read from: a column, or for labels their event time where
#: one was sent, else when they were received.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "records": (("records", "ts"),),
    "labels": (("labels", 'COALESCE("ts", "received_at")'),),
    "aggregates": (
        ("minute_counts", "minute"),
        ("minute_moments", "minute"),
        ("minute_performance", "minute"),
        ("hour_counts", "hour"),
        ("hour_moments", "hour"),
        ("hour_performance", "hour"),
    ),
    "points": (
        ("drift", "window_start"),
        ("performance", "window_start"),
        ("quality", "window_start"),
        ("attributions", "window_start"),
    ),
}
HOUR = 3600


class Retention:
    """Deletes what the spec's retention periods let go, at most once every `EVERY` seconds."""

    def __init__(
        self, sessions: sessionmaker[Session], spec: ResolvedSpec, state: MetricsState, batch: int = BATCH
    ) -> None:
        self.sessions = sessions
        self.periods = spec.raw.retention.periods()
        self.state = state
        self.batch = batch
        self._last: dt.datetime | None = None
        self._policies: set[str] | None = None

    def due(self, now: dt.datetime) -> bool:
        """Whether a run is due: never run yet, or `EVERY` seconds since the last."""
        return self._last is None or (now - self._last).total_seconds() >= EVERY

    def run(self, now: dt.datetime, force: bool = False) -> dict[str, int]:
        """Delete every row past its kind's period (where due, or `force`); returns rows deleted by table."""
        if not (force or self.due(now)):
            return {}
        self._last = now
        covered = self._timescale()
        deleted: dict[str, int] = {}
        for kind, seconds in self.periods.items():
            cutoff = now - dt.timedelta(seconds=seconds)
            if kind == "aggregates":  # whole hours: a roll-up and its minutes leave together
                cutoff = dt.datetime.fromtimestamp(int(cutoff.timestamp()) // HOUR * HOUR, dt.UTC)
            for table, column in TABLES[kind]:
                if table in covered:
                    continue
                n = self._delete(table, column, cutoff)
                if n:
                    deleted[table] = n
                    self.state.add_retention_deleted(table, n)
        if deleted:
            log.info("retention deleted %s", ", ".join(f"{n} {t}" for t, n in sorted(deleted.items())))
        return deleted

    def _timescale(self) -> set[str]:
        """The hypertables TimescaleDB's retention policies cover (set up on the first run)."""
        if self._policies is None:
            engine = self.sessions.kw["bind"]
            drop_after = {t: self.periods[k] for k, ts in TABLES.items() if k in self.periods for t, _ in ts}
            self._policies = dialects.of(engine).retention_policies(engine, drop_after)
        return self._policies

    def _delete(self, table: str, column: str, cutoff: dt.datetime) -> int:
        """Delete a table's rows older than `cutoff` in batches; returns how many."""
        total = 0
        while True:
            with self.sessions.begin() as s:
                stmt = text(dialects.of(s).delete_some(table, f"{_quoted(column)} < :cutoff")).bindparams(
                    bindparam("cutoff", type_=db.UTCDateTime()), bindparam("n")
                )
                n = int(s.execute(stmt, {"cutoff": cutoff, "n": self.batch}).rowcount or 0)  # type: ignore[attr-defined]
            total += n
            if n < self.batch:
                return total


def _quoted(column: str) -> str:
    """A plain column name quoted; an expression (labels' COALESCE) as it is."""
    return column if "(" in column else f'"{column}"'
