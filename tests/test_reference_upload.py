"""`driftline reference upload`: a reference from a file in one command, and a short account of what was
fitted. The data is scikit-learn's breast-cancer set with a logistic regression's scores beside the true
labels (nobody here wrote either), into a database and into a running collector."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from tests.conftest import cli, start_collector

SPEC = """\
version: 1
models:
  - name: cancer
    features:
      - {name: mean_radius, type: numeric}
      - {name: mean_texture, type: numeric}
      - {name: worst_area, type: numeric}
      - {name: tumour_size, type: categorical}
    prediction: {type: binary, positive_class: 1}
"""


def write_reference(path: Path, *, with_labels: bool = True) -> int:
    """The first 400 rows as a CSV: three measurements, a size band, the model's score and the label."""
    data = load_breast_cancer()
    x = data.data[:, [0, 1, 23]]
    scores = LogisticRegression(max_iter=5000).fit(x, data.target).predict_proba(x)[:, 1]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mean_radius", "mean_texture", "worst_area", "tumour_size", "score"]
                   + (["label"] if with_labels else []))  # fmt: skip
        for i in range(400):
            band = "small" if x[i, 0] < 12 else "medium" if x[i, 0] < 16 else "large"
            w.writerow([*x[i], band, scores[i]] + ([int(data.target[i])] if with_labels else []))
    return 400


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    p = tmp_path / "driftline.yaml"
    p.write_text(SPEC)
    return p


def test_upload_into_a_database_says_what_was_fitted_and_that_cbpe_is_calibrated(tmp_path: Path, spec: Path) -> None:
    n = write_reference(tmp_path / "ref.csv")
    url = f"sqlite:///{tmp_path / 'd.db'}"
    out = cli("reference", "upload", str(tmp_path / "ref.csv"), "--model", "cancer", "--version", "v3",
              "--config", str(spec), "--database-url", url)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"Reference 1 of cancer (v3) from {tmp_path / 'ref.csv'}: {n:,} rows."
    assert lines[1] == (
        "Features fitted: mean_radius (numeric, 10 bins), mean_texture (numeric, 10 bins), "
        "tumour_size (categorical, 3 categories), worst_area (numeric, 10 bins)"
    )
    assert lines[2] == f"CBPE: calibrated on {n:,} labelled rows; accuracy is estimated before labels arrive."
    assert len(lines) == 3  # not the fitted binning, not a value sample


def test_upload_without_labels_names_what_cbpe_lacks_and_the_flag(tmp_path: Path, spec: Path) -> None:
    write_reference(tmp_path / "ref.csv", with_labels=False)
    out = cli("reference", "upload", str(tmp_path / "ref.csv"), "--model", "cancer", "--config", str(spec),
              "--database-url", f"sqlite:///{tmp_path / 'd.db'}")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "CBPE: not calibrated: 400 of 400 reference rows lack a score or a label" in out.stdout
    assert "(every version)" in out.stdout


def test_upload_to_a_running_collector_with_an_ingest_token(tmp_path: Path, spec: Path) -> None:
    write_reference(tmp_path / "ref.csv")
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, config=spec)
    try:
        out = cli("reference", "upload", str(tmp_path / "ref.csv"), "--model", "cancer", "--config", str(spec),
                  "--collector", c.url, "--token", c.ingest)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "CBPE: calibrated on 400 labelled rows" in out.stdout
        refused = cli("reference", "upload", str(tmp_path / "ref.csv"), "--model", "cancer", "--config", str(spec),
                      "--collector", c.url, "--token", "not-a-token")  # fmt: skip
        assert refused.returncode == 2 and "401" in refused.stderr, refused.stderr
    finally:
        c.stop()


def test_a_file_without_any_drift_feature_is_refused_naming_them(tmp_path: Path, spec: Path) -> None:
    (tmp_path / "ref.csv").write_text("radius,texture\n1,2\n3,4\n")
    out = cli("reference", "upload", str(tmp_path / "ref.csv"), "--model", "cancer", "--config", str(spec),
              "--database-url", f"sqlite:///{tmp_path / 'd.db'}")  # fmt: skip
    assert out.returncode == 2
    assert "none of cancer's drift features (mean_radius, mean_texture, worst_area, tumour_size)" in out.stderr


def test_the_sdk_uploads_a_pandas_frame_or_rows_and_describes_the_answer(tmp_path: Path, spec: Path) -> None:
    """A DataFrame straight from scikit-learn, and the same data as rows with a missing score, which leaves
    CBPE out rather than failing the upload."""
    from sdk import CollectorClient
    from sdk.reference import describe

    write_reference(tmp_path / "ref.csv")
    import pandas as pd

    frame = pd.read_csv(tmp_path / "ref.csv")
    c = start_collector(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, config=spec)
    try:
        client = CollectorClient.connect(c.url, c.ingest)
        answer = client.upload_reference(frame, model="cancer", score_column="score", label_column="label")
        assert answer["cbpe"] is True and answer["n"] == 400
        assert all("sample" not in f for f in answer["features"].values())  # no value sample echoed back
        text = describe(answer, "frame")
        assert "CBPE: calibrated on 400 labelled rows" in text and "worst_area (numeric, 10 bins)" in text
        rows = frame.to_dict("records")
        rows[7]["score"] = float("nan")
        answer = client.upload_reference(rows, model="cancer", version="v2", score_column="score", label_column="label")
        assert answer["cbpe"] is False and answer["version"] == "v2"
        assert "CBPE: not calibrated" in describe(answer)
        with pytest.raises(KeyError, match="'probability' is not in the data"):
            client.upload_reference(rows, model="cancer", score_column="probability", label_column="label")
    finally:
        c.stop()
