"""The exported gauges read the newest complete window per series, found in SQL on both dialects."""

from __future__ import annotations

import datetime as dt

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
