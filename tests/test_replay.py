"""`driftline replay`: historical predictions evaluated by event time, idempotently, with bad rows reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from driftline import replay as rp
from driftline.spec import load_spec
from tests.conftest import EXAMPLES, cli
from tests.replay_data import START, prediction_log, write_parquet

SPEC = load_spec(EXAMPLES / "credit.yaml")
CREDIT = SPEC.model("credit")
assert CREDIT is not None


def stored_rows(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = tuple(
            int(conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in ("records", "labels", "drift")
        )
    engine.dispose()
    return out  # type: ignore[return-value]


def test_a_planted_shift_and_accuracy_loss_show_in_the_windows_where_they_were_planted(
    db_url: str, tmp_path: Path
) -> None:
    path = write_parquet(
        prediction_log(rows_per_hour=300, hours=12, shift_from_hour=7), tmp_path / "log.parquet"
    )
    sink = rp.EmbeddedSink(db_url, SPEC)
    result = rp.replay(
        path,
        CREDIT,
        sink,
        columns=rp.Columns(label="label"),
        reference_until=START + dt.timedelta(hours=4),
        progress=False,
    )
    assert (result.rows, result.records_stored, result.labels_sent, result.skipped) == (3600, 3600, 3600, 0)
    assert result.reference_rows == 1200 and result.windows == 12
    drift = sink.series("credit", "drift")
    alerts = {
        (p["window_start"].hour, p["feature"])
        for p in drift
        if p["metric"] == "psi" and p["status"] == "alert"
    }
    assert alerts == {(h, "income") for h in range(7, 12)}
    perf = {
        p["window_start"].hour: p for p in sink.series("credit", "performance") if p["metric"] == "accuracy"
    }
    before = [perf[h] for h in range(7)]
    after = [perf[h] for h in range(7, 12)]
    assert all(p["status"] == "ok" and p["lower"] > 0.85 for p in before), before
    # every window after the planted loss is significantly worse than every window before it
    assert max(p["upper"] for p in after) < min(p["lower"] for p in before)
    assert all(0.55 < p["value"] < 0.75 for p in after), after
    text_ = rp.summary(CREDIT, drift, sink.series("credit", "performance"))
    assert "First window over the alert threshold: 2026-03-02 07:00" in text_

    # replaying the same file again stores nothing new and changes no figure
    counts = stored_rows(db_url)
    again = rp.replay(path, CREDIT, sink, columns=rp.Columns(label="label"), progress=False)
    assert again.records_stored == 0 and stored_rows(db_url) == counts
    assert sink.series("credit", "drift") == drift


def test_pii_columns_are_hashed_before_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    path = write_parquet(
        prediction_log(rows_per_hour=20, hours=2, shift_from_hour=5), tmp_path / "log.parquet"
    )
    rp.replay(path, CREDIT, rp.EmbeddedSink(url, SPEC), progress=False)
    engine = create_engine(url)
    with engine.connect() as conn:
        blobs = [str(f) for f in conn.scalars(text("SELECT features FROM records"))]
    assert blobs and all("@example.com" not in b and "sha256:" in b for b in blobs)


BAD_CSV = """\
id,ts,income,age,debt_ratio,prediction
a1,2026-03-02T00:01:00Z,51.0,40,0.2,1
a2,2026-03-02T00:02:00Z,lots,41,0.3,0
a3,yesterday,52.0,42,0.1,1
a4,2026-03-02T00:04:00Z,53.0,43,0.2,0
"""


def test_bad_values_are_reported_by_row_and_column_and_the_good_rows_are_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    result = rp.replay(path, CREDIT, rp.EmbeddedSink(url, SPEC), progress=False)
    problems = [str(p) for p in result.problems]
    assert "row 2, column 'income': 'lots' is not a number" in problems
    assert "row 3, column 'ts': 'yesterday' is not a timestamp: row skipped" in problems
    assert any(p.startswith("column 'region': missing from bad.csv") for p in problems)
    assert (result.records_stored, result.skipped) == (3, 1)
    assert stored_rows(url)[0] == 3


def test_strict_stops_at_the_first_problem_keeping_what_was_sent_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    good = "".join(f"g{i},2026-03-02T00:{i % 60:02d}:00Z,50,40,0.2,1,EU,x@y.z\n" for i in range(12))
    path = tmp_path / "strict.csv"
    path.write_text(
        "id,ts,income,age,debt_ratio,prediction,region,email\n"
        + good
        + "b1,2026-03-02T01:00:00Z,x,40,0.2,1,EU,a@b.c\n"
    )
    with pytest.raises(
        rp.ReplayError,
        match=r"row 13, column 'income': 'x' is not a number \(stopped by --strict; the 12 rows before it",
    ):
        rp.replay(path, CREDIT, rp.EmbeddedSink(url, SPEC), strict=True, batch_rows=5, progress=False)
    assert stored_rows(url)[0] == 12  # 12 = two whole batches of 5 and the 2 good rows of the third


def test_a_file_without_the_time_column_is_refused_with_the_flag_to_use(tmp_path: Path) -> None:
    path = tmp_path / "nots.csv"
    path.write_text("id,when,income\na,2026-03-02T00:00:00Z,1\n")
    with pytest.raises(rp.ReplayError, match=r"'ts' is missing .* --time-column"):
        rp.replay(path, CREDIT, rp.EmbeddedSink(f"sqlite:///{tmp_path / 'r.db'}", SPEC), progress=False)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-03-02T01:02:03Z", dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=dt.UTC)),
        ("2026-03-02 01:02:03", dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=dt.UTC)),
        ("1772413323", dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=dt.UTC)),
        (1772413323000, dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=dt.UTC)),
        ("soon", None),
        (float("nan"), None),
    ],
)
def test_event_times_parse_from_iso_seconds_or_milliseconds(
    value: object, expected: dt.datetime | None
) -> None:
    assert rp.parse_time(value) == expected


def test_the_cli_replays_into_a_running_collector_and_prints_the_history(tmp_path: Path) -> None:
    from tests.conftest import start_collector

    path = write_parquet(
        prediction_log(rows_per_hour=200, hours=6, shift_from_hour=3), tmp_path / "log.parquet"
    )
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    try:
        args = [
            "replay",
            str(path),
            "--config",
            str(EXAMPLES / "credit.yaml"),
            "--model",
            "credit",
            "--collector",
            c.url,
            "--token",
            c.ingest,
            "--admin-token",
            c.admin,
            "--label-column",
            "label",
            "--reference-until",
            "2026-03-02T02:00:00Z",
        ]
        out = cli(*args, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "Replayed 1,200 rows" in out.stdout and "1,200 records stored" in out.stdout
        assert "First window over the alert threshold: 2026-03-02 03:00" in out.stdout
        assert "rows/s" in out.stderr
        again = cli(*args, timeout=300)
        assert "0 records stored (1,200 already stored)" in again.stdout
    finally:
        c.stop()
