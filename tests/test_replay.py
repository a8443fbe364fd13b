"""`driftline replay`: historical predictions evaluated by event time, idempotently, with bad rows reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from contract import DriftlineError
from driftline import replay as rp
from sdk import CollectorClient, MockTransport, Response
from spec import Model, load_spec
from tests.conftest import EXAMPLES, cli
from tests.replay_data import START, prediction_log, write_parquet

SPEC = load_spec(EXAMPLES / "credit.yaml")
_CREDIT = SPEC.model("credit")
assert _CREDIT is not None
CREDIT: Model = _CREDIT


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
    # the reference rows carried scores and labels: CBPE is calibrated and estimates every window
    assert result.calibration_rows == 1200 and result.not_computed == []
    estimated = [p for p in sink.series("credit", "performance") if p["metric"] == "estimated_accuracy"]
    assert len(estimated) == 12 and all(p["value"] is not None for p in estimated)
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


def test_the_replay_says_what_it_could_not_compute_and_which_flag_would_fix_it(tmp_path: Path) -> None:
    """No label column: no realized performance, and no CBPE (its reference rows need labels); the
    reference is still fitted, so drift is computed."""
    path = write_parquet(prediction_log(rows_per_hour=100, hours=3, shift_from_hour=2), tmp_path / "log.parquet")
    sink = rp.EmbeddedSink(f"sqlite:///{tmp_path / 'r.db'}", SPEC)
    result = rp.replay(path, CREDIT, sink, reference_until=START + dt.timedelta(hours=1), progress=False)
    assert result.reference_rows == 100 and result.calibration_rows == 0
    assert len(result.not_computed) == 2, result.not_computed
    cbpe, performance = result.not_computed
    assert "100 of 100 reference rows lack a score or a label" in cbpe and "--label-column" in cbpe
    assert "realized performance: no labels" in performance and "--labels FILE" in performance
    assert sink.series("credit", "drift")
    assert not [p for p in sink.series("credit", "performance") if p["metric"] == "estimated_accuracy"]
    no_reference = rp.replay(path, CREDIT, rp.EmbeddedSink(f"sqlite:///{tmp_path / 'n.db'}", SPEC), progress=False)
    assert any(m.startswith("drift: no reference (--reference-until") for m in no_reference.not_computed)


def test_a_reference_file_with_score_and_label_columns_calibrates_cbpe(tmp_path: Path) -> None:
    reference = write_parquet(prediction_log(rows_per_hour=150, hours=2, shift_from_hour=9), tmp_path / "ref.parquet")
    path = write_parquet(prediction_log(rows_per_hour=100, hours=2, shift_from_hour=1), tmp_path / "log.parquet")
    sink = rp.EmbeddedSink(f"sqlite:///{tmp_path / 'r.db'}", SPEC)
    result = rp.replay(path, CREDIT, sink, columns=rp.Columns(label="label"), reference_file=reference,
                       progress=False)  # fmt: skip
    assert (result.reference_rows, result.calibration_rows, result.not_computed) == (300, 300, [])
    assert [p for p in sink.series("credit", "performance") if p["metric"] == "estimated_accuracy"]


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


T = dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        ("2026-03-02T01:02:03Z", "s", T),
        ("2026-03-02T02:02:03+01:00", "ms", T),  # text carries its own zone; the unit is for numbers
        ("2026-03-02 01:02:03", "s", T),
        ("1772413323", "s", T),
        (1772413323.5, "s", T + dt.timedelta(seconds=0.5)),
        (1772413323000, "ms", T),
        ("1772413323000000", "us", T),
        (1772413323000000000, "ns", T),
        (dt.datetime(2026, 3, 2, 1, 2, 3), "ms", T),  # a typed value is used as it is; naive is UTC
        # seconds are never guessed to be milliseconds: a year-9999 time stays in 9999, not 1978
        (253402300000, "s", dt.datetime(9999, 12, 31, 23, 46, 40, tzinfo=dt.UTC)),
        (1772413323000, "s", None),  # milliseconds read as seconds lie after the year 9999
        ("soon", "s", None),
        (float("nan"), "s", None),
        (True, "s", None),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_event_times_are_read_in_the_stated_unit_never_guessed(
    value: object, unit: str, expected: dt.datetime | None
) -> None:
    assert rp.parse_time(value, unit) == expected


def stored_times(url: str) -> list[dt.datetime]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = [
            dt.datetime.fromisoformat(str(t)).replace(tzinfo=dt.UTC)
            for t in conn.scalars(text("SELECT ts FROM records ORDER BY record_id"))
        ]
    engine.dispose()
    return out


def test_a_numeric_time_column_is_read_in_the_unit_given_and_out_of_range_rows_are_refused_by_row(
    tmp_path: Path,
) -> None:
    """--time-unit ms reads milliseconds; without it the same column is seconds, and every row is refused
    with its number and a hint, never silently moved to 1978 or to year 58000."""
    ms = int(T.timestamp()) * 1000
    path = tmp_path / "ms.csv"
    path.write_text(
        "id,ts,income,age,debt_ratio,prediction\n"
        f"a1,{ms},51.0,40,0.2,1\n"
        f"a2,{ms + 60_000},52.0,41,0.3,0\n"
        "a3,253402300000000,53.0,42,0.1,1\n"  # 9999-12-31 in milliseconds: refused, not 1978
        "a4,0,54.0,43,0.1,1\n"  # 1970: a placeholder, refused
    )
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sink = rp.EmbeddedSink(url, SPEC)
    result = rp.replay(path, CREDIT, sink, columns=rp.Columns(time_unit="ms"), progress=False)
    assert (result.records_stored, result.skipped) == (2, 2)
    assert stored_times(url) == [T, T + dt.timedelta(minutes=1)]
    problems = [str(p) for p in result.problems if p.column == "ts"]
    assert problems[0].startswith(
        "row 3, column 'ts': '253402300000000' read as ms since 1970-01-01 (--time-unit ms"
    )
    assert problems[1].startswith("row 4, column 'ts': '0' read as ms since 1970-01-01")
    assert all(p.endswith("row skipped") for p in problems)

    url2 = f"sqlite:///{tmp_path / 'r2.db'}"
    as_seconds = rp.replay(path, CREDIT, rp.EmbeddedSink(url2, SPEC), progress=False)
    assert (as_seconds.records_stored, as_seconds.skipped) == (0, 4)
    first = str(next(p for p in as_seconds.problems if p.column == "ts"))
    assert first.startswith(
        f"row 1, column 'ts': '{ms}' read as s since 1970-01-01 (--time-unit s; the column"
    )


def test_a_year_9999_time_in_seconds_is_refused_with_its_row_not_stored_as_1978(tmp_path: Path) -> None:
    path = tmp_path / "far.csv"
    path.write_text(
        "id,ts,income,age,debt_ratio,prediction\n"
        "a1,2026-03-02T01:02:03Z,51.0,40,0.2,1\n"
        "a2,253402300000,52.0,41,0.3,0\n"
        "a3,9999-12-31T23:30:00Z,53.0,42,0.1,1\n"
        "a4,0001-01-01T00:00:00Z,53.0,42,0.1,1\n"
    )
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = rp.replay(path, CREDIT, rp.EmbeddedSink(url, SPEC), progress=False)
    assert stored_times(url) == [T]
    problems = {p.row: p.message for p in result.problems if p.column == "ts"}
    assert set(problems) == {2, 3, 4}
    assert "'253402300000' read as s since 1970-01-01" in problems[2]
    assert "event time 9999-12-31T23:30:00Z is later than the latest accepted" in problems[3]
    assert (
        "event time 0001-01-01T00:00:00Z is before the earliest accepted (2000-01-01T00:00:00Z" in problems[4]
    )


def test_a_parquet_timestamp_column_is_used_as_it_is_whatever_its_name_unit_or_zone(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ns = int(T.timestamp()) * 10**9
    far_ns = 7258118400 * 10**9  # 2200-01-01T00:00:00Z: after the accepted range
    table = pa.table(
        {
            "id": ["p1", "p2", "p3", "p4"],
            # a zone-aware nanosecond column: --time-unit (ms here) is for numeric columns, not this one
            "when": pa.array([ns, ns + 60 * 10**9, far_ns, None], pa.timestamp("ns", tz="Asia/Tokyo")),
            "income": [1.0, 2.0, 3.0, 4.0],
        }
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = rp.replay(
        tmp_path / "typed.parquet",
        CREDIT,
        rp.EmbeddedSink(url, SPEC),
        columns=rp.Columns(time="when", time_unit="ms"),
        progress=False,
    )
    assert stored_times(url) == [T, T + dt.timedelta(minutes=1)]
    problems = {p.row: p.message for p in result.problems if p.column == "when"}
    assert set(problems) == {3, 4}
    assert "read as ns since 1970-01-01 (the column's timestamp unit)" in problems[3]

    # a millisecond column past Python's datetime range is one row's problem, not a crash
    far = pa.table(
        {"id": ["q1", "q2"], "ts": pa.array([ns // 10**6, 300_000_000_000_000], pa.timestamp("ms"))}
    )
    pq.write_table(far, tmp_path / "far.parquet")
    again = rp.replay(tmp_path / "far.parquet", CREDIT, rp.EmbeddedSink(url, SPEC), progress=False)
    assert (again.records_stored, again.skipped) == (1, 1)
    assert [p.row for p in again.problems if p.column == "ts"] == [2]


def test_the_cli_takes_the_time_unit_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    path = tmp_path / "ms.csv"
    path.write_text(f"id,ts,income,age,debt_ratio,prediction\na1,{int(T.timestamp()) * 1000},51.0,40,0.2,1\n")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    args = ("replay", str(path), "--config", str(EXAMPLES / "credit.yaml"), "--model", "credit")
    out = cli(*args, "--database-url", url, "--time-unit", "ms", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "1 records stored" in out.stdout and stored_times(url) == [T]
    bad = cli(*args, "--database-url", url, "--time-unit", "minutes")
    assert bad.returncode == 2 and "--time-unit" in bad.stderr


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
        assert "CBPE calibrated on 400 labelled reference rows" in out.stdout and "Not computed" not in out.stdout
        assert "First window over the alert threshold: 2026-03-02 03:00" in out.stdout
        assert "rows/s" in out.stderr
        again = cli(*args, timeout=300)
        assert "0 records stored (1,200 already stored)" in again.stdout
    finally:
        c.stop()


def test_a_nan_label_is_skipped_not_sent_to_be_refused_with_its_batch(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ts = int(T.timestamp())
    pq.write_table(
        pa.table(
            {"id": ["n1", "n2"], "ts": [ts, ts + 1], "income": [1.0, 2.0], "label": [1.0, float("nan")]}
        ),
        tmp_path / "log.parquet",
    )
    pq.write_table(pa.table({"id": ["n1", "n2"], "label": [float("nan"), 0.0]}), tmp_path / "labels.parquet")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sink = rp.EmbeddedSink(url, SPEC)
    result = rp.replay(
        tmp_path / "log.parquet",
        CREDIT,
        sink,
        columns=rp.Columns(label="label"),
        labels_file=tmp_path / "labels.parquet",
        progress=False,
    )
    assert (result.records_stored, result.labels_sent) == (2, 2)  # one from each file
    assert [str(p) for p in result.problems if p.column == "label"] == [
        "row 1, column 'label': empty: label skipped"
    ]


def test_a_replayed_batch_that_meets_other_content_under_its_id_is_one_clear_error(
    db_url: str, tmp_path: Path
) -> None:
    """The embedded sink turns the collector's 409 (this batch id holds other content) into a ReplayError
    naming it, so `driftline replay` prints one line instead of a traceback."""
    sink = rp.EmbeddedSink(db_url, SPEC)
    ts = START.timestamp()
    body: dict[str, Any] = {"batch_id": "replay-x", "model": "credit", "version": "v1",
            "records": [{"id": "a", "ts": ts, "features": {"income": 1.0}}]}
    assert sink.records(body) == (1, False)
    body["records"][0]["features"] = {"income": 2.0}
    with pytest.raises(rp.ReplayError, match="409"):
        sink.records(body)


def test_the_http_sink_names_the_refused_path_in_a_replay_error_and_reads_nothing_it_may_not() -> None:
    """Every replay refusal is a DriftlineError; a read the token may not make leaves the summary empty."""
    sink = rp.HTTPSink("http://127.0.0.1:1", "ingest-token", "admin-token")
    refuse = MockTransport(lambda r: Response(409, b'{"detail": "batch id reused"}'))
    sink.client = CollectorClient(refuse, error=rp.ReplayError)
    with pytest.raises(rp.ReplayError) as err:
        sink.records({"batch_id": "replay-x", "model": "credit", "version": "v1", "records": []})
    assert str(err.value) == 'the collector refused /v1/records with 409: {"detail": "batch id reused"}'
    assert isinstance(err.value, DriftlineError)
    assert issubclass(rp.ReplayFileError, rp.ReplayError)
    assert sink.series("credit", "drift") == [] and sink.series("credit", "performance") == []
    assert [r.path for r in refuse.requests][1:] == [
        "/v1/models/credit/drift?limit=10000",
        "/v1/models/credit/performance?limit=10000&slice=all",
    ]


def test_the_summary_table_fits_long_feature_names_and_never_cuts_an_alert_list() -> None:
    """Columns widen to their longest cell; an alerts cell names three features and counts the rest."""
    long = [f"applicant_{x}_reported_by_the_partner_bureau" for x in ("income", "age", "debt", "tenure", "region")]
    start = dt.datetime(2026, 3, 2, 7, tzinfo=dt.UTC)
    drift = [
        {"window_start": start, "window_seconds": 3600, "metric": "psi", "feature": f, "value": 0.3 + i / 10,
         "status": "alert", "n_current": 5000}
        for i, f in enumerate(long)
    ]  # fmt: skip
    perf = [{"window_start": start, "window_seconds": 3600, "slice": "all", "metric": "accuracy", "value": 0.81,
             "lower": 0.8, "upper": 0.82, "status": "ok", "total": 5000}]  # fmt: skip
    lines = rp.summary(CREDIT, drift, perf).splitlines()
    header, row = lines[0], lines[1]
    assert f"{long[4]} 0.700" in row  # the most drifted, whole
    assert "applicant_age_reported_by_the_partner_bureau, applicant_debt_reported_by_the_partner_bureau" in row
    assert "and 2 more" in row
    assert header.index("performance") == row.index("accuracy 0.810")  # columns line up
    assert header.index("alerts") == row.index("applicant_age")
