"""A spec cannot make Driftline unpickle a file it does not pin: explain model files resolve inside the spec's
folder (or DRIFTLINE_MODELS_DIR), and their SHA-256 is checked by `driftline check`, at collector start and
in the worker right before unpickling (issue 13, item 9)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from analyzers.explain import load_model
from spec import SpecError, load_spec, sha256_of
from tests.conftest import free_port, missing, start_collector

DRIFTLINE = Path(sys.executable).parent / "driftline"
FEATURES = ("x0", "x1", "x2")
SPEC = """\
models:
  - name: churn
    features:
      - {name: x0, type: numeric}
      - {name: x1, type: numeric}
      - {name: x2, type: numeric}
    prediction: {type: binary, positive_class: 1}
    explain:
      model: MODEL
      sha256: SHA256
"""


class Planted:
    """Unpickling this creates the marker file: the proof that a file's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def plant(path: Path, marker: Path) -> str:
    path.write_bytes(pickle.dumps(Planted(marker)))
    return sha256_of(path)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if not DRIFTLINE.exists():
        missing(f"the driftline console script next to {sys.executable}", "pip install -e '.[test]'")
    base = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    base["DRIFTLINE_SALT"] = "a test salt"
    return subprocess.run(
        [str(DRIFTLINE), *args], capture_output=True, text=True, timeout=120, env={**base, **(env or {})}
    )


def write_spec(folder: Path, model: str, sha256: str) -> Path:
    spec = folder / "driftline.yaml"
    spec.write_text(SPEC.replace("MODEL", model).replace("SHA256", sha256))
    return spec


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Any]:
    """A spec folder with a pinned model inside, and a planted pickle outside it."""
    specs, outside = tmp_path / "specs", tmp_path / "elsewhere"
    specs.mkdir()
    outside.mkdir()
    marker = tmp_path / "code-ran"
    evil = outside / "evil.pkl"
    digest = plant(evil, marker)
    (specs / "models").mkdir()
    (specs / "models" / "escape.pkl").symlink_to(evil)
    return {"specs": specs, "outside": outside, "evil": evil, "digest": digest, "marker": marker}


def hostile(layout: dict[str, Any], case: str) -> tuple[str, str, str]:
    """(model path, pinned digest, words the refusal must hold) for one way of escaping the pin."""
    specs, evil, digest = layout["specs"], layout["evil"], layout["digest"]
    if case == "an absolute path":
        return str(evil), digest, "an absolute path"
    if case == "a ../ path":
        return "../elsewhere/evil.pkl", digest, "'..' leads out"
    if case == "a symbolic link out of the folder":
        return "models/escape.pkl", digest, "outside"
    inside = specs / "models" / "swapped.pkl"
    plant(inside, layout["marker"])
    return "models/swapped.pkl", "ab" * 32, f"has SHA-256 {sha256_of(inside)}, not the pinned {'ab' * 32}"


CASES = ["an absolute path", "a ../ path", "a symbolic link out of the folder", "a file with another digest"]


@pytest.mark.parametrize("case", CASES)
def test_driftline_check_refuses_a_model_file_it_cannot_trust_in_one_line(
    layout: dict[str, Any], case: str
) -> None:
    model, digest, words = hostile(layout, case)
    spec = write_spec(layout["specs"], model, digest)
    result = run("check", str(spec))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    line = 10 if case == "a file with another digest" else 9  # the sha256: line, or the model: line
    assert len(lines) == 1 and lines[0].startswith(f"{spec}:{line}: "), result.stderr
    assert words in lines[0], lines[0]
    assert not layout["marker"].exists()


@pytest.mark.parametrize("case", CASES)
def test_the_collector_refuses_to_start_on_a_model_file_it_cannot_trust(
    layout: dict[str, Any], case: str, tmp_path: Path
) -> None:
    model, digest, words = hostile(layout, case)
    spec = write_spec(layout["specs"], model, digest)
    result = run(
        "serve", "--config", str(spec), "--port", str(free_port()),
        "--database-url", f"sqlite:///{tmp_path / 'd.db'}",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and words in result.stderr, result.stderr
    assert not layout["marker"].exists()


def test_a_correct_pin_passes_and_a_missing_pin_shows_the_digest_to_paste(tmp_path: Path) -> None:
    joblib.dump({"trees": [1, 2, 3]}, tmp_path / "m.joblib")
    digest = sha256_of(tmp_path / "m.joblib")
    spec = write_spec(tmp_path, "m.joblib", digest)
    ok = run("check", str(spec))
    assert ok.returncode == 0 and ok.stdout.startswith(f"{spec}: ok"), ok.stderr
    spec.write_text(SPEC.replace("MODEL", "m.joblib").replace("      sha256: SHA256\n", ""))
    result = run("check", str(spec))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "explain.sha256" in result.stderr and f"sha256: {digest}" in result.stderr, result.stderr


def test_check_refuses_a_missing_model_file_the_collector_only_warns_about(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "gone.joblib", "ab" * 32)
    result = run("check", str(spec))
    assert result.returncode == 2 and "no such file" in result.stderr, result.stderr
    assert load_spec(spec).models[0].explain is not None  # serve starts, and names the file per reference


def test_a_models_folder_from_the_environment_holds_the_files_and_bounds_the_paths(
    layout: dict[str, Any], tmp_path: Path
) -> None:
    models = tmp_path / "models-dir"
    models.mkdir()
    joblib.dump({"trees": [1]}, models / "m.joblib")
    spec = write_spec(layout["specs"], "m.joblib", sha256_of(models / "m.joblib"))
    assert run("check", str(spec)).returncode == 2  # not in the spec's folder
    ok = run("check", str(spec), env={"DRIFTLINE_MODELS_DIR": str(models)})
    assert ok.returncode == 0, ok.stderr
    resolved = load_spec(spec, models_dir=models).models[0].explain
    assert resolved is not None and resolved.model == str((models / "m.joblib").resolve())
    (models / "out.pkl").symlink_to(layout["evil"])
    spec = write_spec(layout["specs"], "out.pkl", layout["digest"])
    with pytest.raises(SpecError, match="outside"):
        load_spec(spec, models_dir=models)


def test_load_model_never_unpickles_a_file_whose_digest_differs(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "m.pkl"
    plant(path, marker)
    with pytest.raises(ValueError, match=f"its SHA-256 is {sha256_of(path)}, the spec pins {'ab' * 32}"):
        load_model(path, sha256="ab" * 32)
    assert not marker.exists()
    load_model(
        path, sha256=sha256_of(path)
    )  # the pinned file is loaded, code and all: that is the pin's meaning
    assert marker.exists()


def test_a_model_swapped_after_the_collector_started_is_refused_by_the_worker(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    joblib.dump(GradientBoostingClassifier(n_estimators=10, random_state=0).fit(x, y), tmp_path / "m.joblib")
    spec = write_spec(tmp_path, "m.joblib", sha256_of(tmp_path / "m.joblib"))
    c = start_collector(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, config=spec)
    try:
        ref: dict[str, Any] = {
            "model": "churn",
            "columns": {f: x[:, j].tolist() for j, f in enumerate(FEATURES)},
        }
        status, out = c.post("/v1/references", ref, token=c.admin)
        assert status == 200 and out["warnings"] == [], out  # the pinned model loads and explains
        marker = tmp_path / "code-ran"
        plant(tmp_path / "m.joblib", marker)  # the file changes under the running collector
        status, out = c.post("/v1/references", {**ref, "version": "v2"}, token=c.admin)
        assert status == 200, out
        (warning,) = out["warnings"]
        assert "refusing to load the model" in warning and sha256_of(tmp_path / "m.joblib") in warning, (
            warning
        )
        assert not marker.exists()
    finally:
        c.stop()
