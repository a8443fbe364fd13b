"""Before a window is read, its stored minutes and hours are brought up to date: the labelled records of
changed minutes are summarised again (`minute_performance`), and where the window is read from hour
roll-ups, its changed hours are summed again from their minutes.

Windows of several lengths share minutes: within one tick each minute is summarised and each hour rolled
up once, however many windows hold it. Both run under the version's exclusive lock, so two collectors never
interleave a rewrite and ingest (which holds the shared lock) never adds to a minute being read for one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from analyzers.performance import LabelledRow
from analyzers.performance_summary import Summary, summarize_many
from collector import dialects, repository
from collector.aggregation import HOUR, Aggregator, lock_key, rolled_up
from spec import ResolvedSpec


@dataclass
class Changed:
    """What changed in one window since the last tick: every minute that received records or labels, and
    those whose labelled records changed."""

    minutes: set[dt.datetime] = field(default_factory=set)
    labelled: set[dt.datetime] = field(default_factory=set)


@dataclass(frozen=True)
class Span:
    """One window of one model version, as upkeep needs it: where it starts and ends."""

    model: str
    version: str
    start: dt.datetime
    end: dt.datetime


class Upkeep:
    """Summarises changed minutes and rolls up changed hours, each once per tick."""

    def __init__(self, sessions: sessionmaker[Session], aggregator: Aggregator, spec: ResolvedSpec | None) -> None:
        self.sessions = sessions
        self.aggregator = aggregator
        self.spec = spec
        self._summarised: set[tuple[str, str, dt.datetime]] = set()
        self._rolled: set[tuple[str, str, dt.datetime]] = set()

    def new_tick(self) -> None:
        """Forget what this tick brought up to date: the next tick's changes are new."""
        self._summarised.clear()
        self._rolled.clear()

    def prepare(self, window: Span, changed: Changed | None) -> None:
        """Bring the window's minutes (and its hours, if it is read from them) up to date; `changed` None:
        every minute and hour of the window, as after a rebuild or a failed try."""
        if changed is None or changed.labelled:
            self._summarise(window, None if changed is None else changed.labelled)
        seconds = int((window.end - window.start).total_seconds())
        if rolled_up(seconds):
            minutes = None if changed is None else changed.minutes
            self._roll_up(window, minutes)

    def _buckets(self, window: Span, minutes: Collection[dt.datetime] | None, step: int) -> list[dt.datetime]:
        """The bucket starts (of `step` seconds) holding the given minutes, or every bucket of the window."""
        if minutes is None:
            n = int((window.end - window.start).total_seconds()) // step
            return [window.start + dt.timedelta(seconds=step * i) for i in range(n)]
        return sorted({repository.minute_time(repository.bucket_start(t, step)) for t in minutes})

    def _summarise(self, window: Span, minutes: Collection[dt.datetime] | None) -> None:
        """Summarise again the labelled records of some minutes of a window (None: all of its minutes)."""
        m = self.spec.model(window.model) if self.spec else None
        bucket = self.aggregator.bucket_seconds(window.model)
        step = dt.timedelta(seconds=bucket)
        key = (window.model, window.version)
        todo = [t for t in self._buckets(window, minutes, bucket) if (*key, t) not in self._summarised]
        if not todo:
            return
        ranges: list[tuple[dt.datetime, dt.datetime]] = []
        for t in todo:  # contiguous minutes are read with one query
            if ranges and ranges[-1][1] == t:
                ranges[-1] = (ranges[-1][0], t + step)
            else:
                ranges.append((t, t + step))
        with self.sessions.begin() as s:
            dialects.of(s).lock_version(s.connection(), lock_key(window.model, window.version), shared=False)
            rows: list[LabelledRow] = []
            buckets: list[int] = []
            summaries: dict[int, Summary] = {}
            for start, end in ranges:
                for ts, p, y, sl, sc in repository.labelled_records(
                    s, model=window.model, version=window.version, start=start, end=end
                ):
                    rows.append(LabelledRow(p, y, sl or {}, sc))
                    buckets.append(repository.bucket_start(ts, bucket))
                for b in range(repository.bucket_start(start, bucket), repository.bucket_start(end, bucket), bucket):
                    summaries[b] = {}  # a minute left without labelled records is replaced by nothing
            # every changed minute in one vectorised pass
            summaries.update(
                summarize_many(
                    rows, buckets,
                    prediction_type=m.prediction_type if m else "binary",
                    positive_class=m.positive_class if m and m.positive_class is not None else 1,
                    slice_columns=self.aggregator.slice_columns(window.model),
                )
            )  # fmt: skip
            repository.replace_summaries(s, model=window.model, version=window.version, summaries=summaries)
        self._summarised.update((window.model, window.version, t) for t in todo)

    def _roll_up(self, window: Span, minutes: Collection[dt.datetime] | None) -> None:
        """Sum again the hours of the window holding the given minutes (None: every hour of it)."""
        key = (window.model, window.version)
        todo = [h for h in self._buckets(window, minutes, HOUR) if (*key, h) not in self._rolled]
        if not todo:
            return
        with self.sessions.begin() as s:
            dialects.of(s).lock_version(s.connection(), lock_key(window.model, window.version), shared=False)
            built = repository.aggregate_state(s, model=window.model, version=window.version)
            if built is None:  # nothing aggregated yet: no hour to sum
                return
            repository.roll_up(s, model=window.model, version=window.version, reference_id=built[0], hours=todo)
        self._rolled.update((window.model, window.version, h) for h in todo)
