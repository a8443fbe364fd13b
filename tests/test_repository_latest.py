"""The exported gauges read the newest complete window per series, found in SQL on both dialects."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from collector import db, migrations, repository

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def point(feature: str, hour: int, status: str = "ok", value: float = 0.1, hours: int = 1) -> dict[str, object]:
    start = T0 + dt.timedelta(hours=hour)
    return {
        "window_seconds": hours * 3600,
        "model": "credit",
        "version": "v1",
        "feature": feature,
        "metric": "psi",
        "window_start": start,
        "window_end": start + dt.timedelta(hours=hours),
        "value": value,
        "status": status,
        "n_reference": 100,
        "n_current": 100,
        "reference_id": 1,
        "computed_at": T0,
    }


def test_latest_drift_prefers_the_newest_complete_window_and_falls_back_to_a_fresh_one(db_url: str) -> None:
    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    sessions = sessionmaker(engine)
    now = T0 + dt.timedelta(hours=3, minutes=30)  # windows 0-2 are complete, window 3 is not
    with sessions.begin() as s:
        repository.upsert_drift(s, rows=[
            point("income", 0, value=0.1), point("income", 2, value=0.3), point("income", 3, value=0.9),
            point("age", 1, value=0.2), point("age", 2, status="insufficient_data", value=5.0),
            point("region", 3, value=0.4),  # only a window still open: shown until one completes
            point("income", 0, value=0.7, hours=24),  # the day's window, open: its own series
        ])  # fmt: skip
    with sessions() as s:
        got = {
            (p.feature, p.window_seconds): (p.window_start.hour, p.value)
            for p in repository.latest_drift(s, complete_before=now)
        }
    assert got == {
        ("income", 3600): (2, 0.3),
        ("age", 3600): (1, 0.2),
        ("region", 3600): (3, 0.4),
        ("income", 86400): (0, 0.7),
    }
    engine.dispose()


def test_paging_with_a_cursor_gives_every_point_once_across_versions_lengths_and_ties(db_url: str) -> None:
    """Keyset pages of any size, over points that tie on window start (two versions, two lengths, several
    features), join up to the one-read answer: nothing repeated, nothing skipped, on both dialects."""
    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    sessions = sessionmaker(engine)
    rows = [
        {**point(feature, hour, hours=hours), "version": version}
        for version in ("v1", "v2")
        for feature in ("age", "income", "region")
        for hours, hour_list in ((1, range(4)), (24, [0]))
        for hour in hour_list
    ]
    with sessions.begin() as s:
        repository.upsert_drift(s, rows=rows)
    with sessions() as s:
        whole = [repository.series_key("drift", p) for p in repository.drift_series(s, model="credit", limit=1000)]
        assert len(whole) == len(rows) == len(set(whole))
        assert whole == sorted(whole, key=lambda k: (-k[0].timestamp(), *k[1:]))
        for size in (1, 4, 7):
            got: list[tuple[object, ...]] = []
            after = None
            while True:
                page = repository.drift_series(s, model="credit", limit=size, after=after)
                got += [repository.series_key("drift", p) for p in page]
                if len(page) < size:
                    break
                after = repository.series_key("drift", page[-1])
            assert got == whole, size
    engine.dispose()


def test_the_bulk_insert_stores_what_sqlalchemys_insert_stores(db_url: str) -> None:
    """`insert_many` binds through each column's dialect type: the stored text (SQLite keeps datetimes as
    text, with microseconds) is byte for byte what SQLAlchemy's own INSERT stores, so keys and ranges match."""
    from sqlalchemy import text

    from collector.repository._sql import insert_many

    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    t = db.table(db.MinutePerformance)
    cols = ("model", "version", "minute", "slice", "item", "n", "total", "squares")
    row = ("credit", "v1", T0 + dt.timedelta(minutes=3), "all", "ll", 7, 1.5, 0.25)
    with sessionmaker(engine).begin() as s:
        s.execute(t.insert(), [dict(zip(cols, row, strict=True))])
        insert_many(s, t, cols, [(*row[:4], "c", *row[5:])])
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT item, CAST(minute AS TEXT), n, total, squares FROM minute_performance "
                                   "ORDER BY item")).all()  # fmt: skip
    assert [tuple(r[1:]) for r in stored] == [tuple(stored[0][1:])] * 2, stored
    engine.dispose()


def test_packed_roc_cells_read_and_roll_up_as_the_rows_they_replaced(db_url: str) -> None:
    """A slice-minute's ROC AUC cells are stored in one row (migration 16); rows stored before, one per cell,
    stay readable. A window and its hour roll-up read the same summary either way, mixed within one hour:
    the merge of what was written."""
    from analyzers.performance_summary import Sums, merged

    engine = db.make_engine(db_url)
    migrations.migrate(engine)
    t = db.table(db.MinutePerformance)
    start = int(T0.timestamp())
    new = {"all": {"r:12:1": Sums(3), "r:40:0": Sums(2), "ll": Sums(5, 1.25, 0.5)}, "region=eu": {"r:12:1": Sums(1)}}
    old = {"all": {"r:12:1": Sums(4), "r:7:0": Sums(1), "ll": Sums(5, 2.0, 1.0)}}
    with sessionmaker(engine).begin() as s:
        repository.replace_summaries(s, model="credit", version="v1", summaries={start: new})
        s.execute(t.insert(), [  # the format before migration 16: one row per cell
            {"model": "credit", "version": "v1", "minute": T0 + dt.timedelta(minutes=1), "slice": sl, "item": item,
             "n": x.n, "total": x.total, "squares": x.squares}
            for sl, items in old.items() for item, x in items.items()
        ])  # fmt: skip
        stored = s.execute(select(t.c.item).where(t.c.minute == T0)).scalars().all()
        assert sorted(stored) == ["ll", "r", "r"], stored  # the cells of each slice in one row
        hour = T0
        repository.roll_up(s, model="credit", version="v1", reference_id=1, hours=[hour])
        want = merged([new, old])
        end = T0 + dt.timedelta(hours=1)
        for hourly in (False, True):
            got, _ = repository.window_summary(s, model="credit", version="v1", start=T0, end=end, hourly=hourly)
            assert got == want, hourly
    engine.dispose()
