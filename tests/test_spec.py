"""The spec loader: good files resolve; each mistake is reported with its line, field path and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzers.registry import DEFAULT_METRICS, STATISTICS
from contract import DriftlineError
from spec import DEFAULT_DRIFT, SpecError, load_spec, load_spec_text, parse_duration
from tests.conftest import EXAMPLES, cli

BASE = """\
version: 1
models:
  - name: credit
    features:
      - {name: income, type: numeric}
      - {name: region, type: categorical}
    prediction: {type: binary}
    slices: [region]
"""


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_spec_loads_and_resolves(path: Path) -> None:
    spec = load_spec(path)
    assert spec.models and all(m.drift.window_seconds > 0 for m in spec.models)
    assert cli("check", str(path)).returncode == 0


def test_the_resolved_model_carries_the_drift_settings_and_hides_pii_from_drift() -> None:
    spec = load_spec(EXAMPLES / "credit.yaml")
    credit = spec.model("credit")
    assert credit is not None
    assert credit.drift.window_seconds == 3600 and credit.drift.metrics == ("psi", "kl", "js")
    assert credit.pii_features == ("email",)
    assert "email" not in {f.name for f in credit.drift_features}


def test_several_windows_resolve_in_seconds_the_first_being_the_one_alerts_read() -> None:
    spec = load_spec_text(BASE + "    drift: {window: [1d, 1h, 7d]}\n")
    credit = spec.model("credit")
    assert credit is not None
    assert credit.drift.windows == (86400, 3600, 604800) and credit.drift.window_seconds == 86400
    single = load_spec_text(BASE).model("credit")
    assert single is not None and single.drift.windows == (3600,)


CASES = {
    "a misspelt field names its line and suggests the right name": (
        BASE.replace("prediction:", "predicton:"),
        "7:",
        "did you mean 'prediction'?",
    ),
    "an unknown feature type lists the allowed ones": (
        BASE.replace("type: categorical", "type: colour"),
        "6:",
        "'numeric', 'categorical', 'text' or 'embedding'",
    ),
    "a slice that is not a declared feature points at its line and suggests the closest": (
        BASE.replace("slices: [region]", "slices: [regoin]"),
        "8: models.0.slices.0: model 'credit': slice 'regoin'",
        "did you mean 'region'?",
    ),
    "an SLO of an undeclared model points at its line, not the top of the file": (
        BASE + "slos:\n  - {name: s1, model: credti, sli: availability, objective: 99}\n",
        "10: slos.0.model: slo 's1': model 'credti' is not declared",
        "did you mean 'credit'?",
    ),
    "a model declared twice points at the second one": (
        BASE + BASE.split("models:\n")[1],
        "9: models.1.name: model 'credit' is declared twice",
        "model names must be unique",
    ),
    "a drift window that is no duration explains the format": (
        BASE + "    drift: {window: hourly}\n",
        "9:",
        "like 30s, 5m, 1h or 30d",
    ),
    "warn above alert says which to move": (
        BASE + "    drift: {warn: 0.5, alert: 0.2}\n",
        "9:",
        "must be below alert",
    ),
    "an objective of 100 is refused": (
        BASE + "slos:\n  - {name: a, model: credit, sli: availability, objective: 100}\n",
        "10:",
        "such as 99.9",
    ),
    "an SLO for an undeclared model names it": (
        BASE + "slos:\n  - {name: a, model: fraud, sli: availability, objective: 99}\n",
        "fraud",
        "not declared",
    ),
    "an unknown SLI lists the allowed ones": (
        BASE + "slos:\n  - {name: a, model: credit, sli: vibes, objective: 99}\n",
        "10:",
        "'availability'",
    ),
    "broken YAML names its line": ("models:\n  - name: [unclosed\n", "3:", "not valid YAML"),
    "a p-value test first with divergence-style levels says how tests are judged": (
        BASE + "    drift: {metrics: [ks, psi]}\n",
        "9:",
        "alert (0.25) must be below warn (0.1)",
    ),
    "an explained feature that is not numeric says to encode it upstream": (
        BASE + f"    explain: {{model: m.joblib, sha256: {'ab' * 32}, features: [region]}}\n",
        "explain.features",
        "encode it upstream",
    ),
    "a multivariate feature that is not tabular names the rule": (
        BASE + "    drift: {multivariate: {features: [nope]}}\n",
        "drift.multivariate.features",
        "embedding features get their own test",
    ),
    "an unknown multivariate method lists the allowed ones": (
        BASE + "    drift: {multivariate: {method: energy}}\n",
        "9:",
        "'mmd' or 'lsdd'",
    ),
    "one window length listed twice is refused, however it is spelt": (
        BASE + "    drift: {window: [1h, 60m]}\n",
        "9:",
        "lists one window length twice",
    ),
    "an empty window list is refused with an example": (
        BASE + "    drift: {window: []}\n",
        "9:",
        "give one window, e.g. 1h",
    ),
    "more than four window lengths are refused": (
        BASE + "    drift: {window: [1h, 2h, 3h, 1d, 7d]}\n",
        "9:",
        "at most 4 windows",
    ),
    "a window longer than a month is refused with the longest allowed": (
        BASE + "    drift: {window: [1h, 100000d]}\n",
        "9:",
        "longer than 31d, the longest window",
    ),
    "a window in a list that is no duration explains the format": (
        BASE + "    drift: {window: [1h, daily]}\n",
        "9:",
        "like 30s, 5m, 1h or 30d",
    ),
    "a misspelt statistic lists the registered ones and names the closest": (
        BASE + "    drift: {metrics: [psi, wasserstien]}\n",
        "9: models.0.drift.metrics.1",
        "'ks' or 'wasserstein' (got 'wasserstien'); fix: did you mean 'wasserstein'?",
    ),
    "an unknown statistic with nothing close lists the registered ones": (
        BASE + "    drift: {metrics: [zzz]}\n",
        "models.0.drift.metrics.0",
        "Input should be 'psi', 'kl', 'kl_reverse'",
    ),
    "a misspelt statistic in thresholds names the closest": (
        BASE + "    drift: {thresholds: {psy: {warn: 0.1, alert: 0.2}}}\n",
        "models.0.drift.thresholds.psy",
        "fix: did you mean 'psi'?",
    ),
    "per-metric thresholds of a test must put alert below warn": (
        BASE + "    drift: {thresholds: {chi2: {warn: 0.01, alert: 0.05}}}\n",
        "9:",
        "thresholds.chi2",
    ),
}


@pytest.mark.parametrize("text, where, fix", CASES.values(), ids=list(CASES))
def test_a_bad_spec_is_refused_with_line_field_and_fix(text: str, where: str, fix: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(text, source="driftline.yaml")
    message = str(err.value)
    assert message.startswith("driftline.yaml:"), message
    assert where in message and fix in message, message


def test_driftline_check_prints_each_problem_and_exits_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("prediction:", "predicton:").replace("type: categorical", "type: colour"))
    result = cli("check", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 2 and all(line.startswith(f"{bad}:") for line in lines), result.stderr


@pytest.mark.parametrize(
    "text, seconds", [("30s", 30), ("5m", 300), ("1h", 3600), ("30d", 2592000), ("2w", 1209600)]
)
def test_durations_parse_to_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_the_explained_model_path_is_taken_from_the_spec_files_folder(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(BASE + f"    explain: {{model: models/m.joblib, sha256: {'ab' * 32}}}\n")
    m = load_spec(tmp_path / "s.yaml").model("credit")
    assert m is not None and m.explain is not None
    assert m.explain.model == str((tmp_path / "models" / "m.joblib").resolve())
    assert m.explain_features == tuple(f.name for f in m.features if f.type == "numeric" and not f.pii)


@pytest.mark.parametrize("name", sorted(STATISTICS))
def test_every_registered_statistic_is_a_valid_metric_judged_in_its_direction(name: str) -> None:
    stat = STATISTICS[name]
    levels = "warn: 0.05, alert: 0.01" if stat.test else "warn: 0.1, alert: 0.25"
    spec = load_spec_text(BASE + f"    drift: {{metrics: [{name}], {levels}}}\n")
    assert spec.model("credit").drift.metrics == (name,)  # type: ignore[union-attr]
    flipped = "warn: 0.01, alert: 0.05" if stat.test else "warn: 0.25, alert: 0.1"
    with pytest.raises(SpecError, match="must be below"):
        load_spec_text(BASE + f"    drift: {{metrics: [{name}], {flipped}}}\n")


def test_the_default_statistics_are_the_registrys_and_spec_errors_share_the_root() -> None:
    assert load_spec_text(BASE).model("credit").drift.metrics == DEFAULT_METRICS  # type: ignore[union-attr]
    assert DEFAULT_DRIFT.metrics == DEFAULT_METRICS and DEFAULT_DRIFT.window_seconds == 3600
    assert issubclass(SpecError, DriftlineError) and issubclass(SpecError, ValueError)
