"""Impact-gated drift incidents through the real promtool: series in, alerts out (issue 19 items 1 and 2).

Each suite in tests/promtool/incident/*.test.yaml runs against the model rules `driftline generate` writes
from tests/promtool/incident/incident.spec.yaml. Locally a missing promtool skips; in CI (CI=true) it fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alerting import generate_model_rules
from slo.writer import write_rules
from spec import SpecError, load_spec, load_spec_text
from tests.test_slo_promtool import promtool, run  # noqa: F401  (the fixture)

SUITES = Path(__file__).parent / "promtool" / "incident"


@pytest.mark.parametrize("suite", sorted(SUITES.glob("*.test.yaml")), ids=lambda p: p.name.removesuffix(".test.yaml"))
def test_promtool_unit_suite_passes_over_the_generated_incident_rules(
    promtool: str,  # noqa: F811
    suite: Path,
    tmp_path: Path,
) -> None:
    rules = generate_model_rules(load_spec(SUITES / "incident.spec.yaml"))
    write_rules(rules, tmp_path / "driftline-alerts.rules.yaml")
    shutil.copy(suite, tmp_path / suite.name)
    result = run(promtool, "test", "rules", suite.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _spec(model: str) -> str:
    return f"version: 1\nmodels:\n{model}"


REGRESSOR = """  - name: price
    features: [{name: area, type: numeric}]
    prediction: {type: regression}
    drift: {impact: {target: 12.5}}
"""


def test_a_regressor_pages_when_the_lower_bound_of_its_mae_is_over_the_target() -> None:
    groups = generate_model_rules(load_spec_text(_spec(REGRESSOR), "spec.yaml"))
    (incident,) = [g for g in groups if g.name == "driftline-incident-price"]
    page = [r for r in incident.rules if getattr(r, "labels", {}).get("severity") == "page"]
    assert len(page) == 1
    assert 'metric="mae",bound="lower"} > 12.5' in page[0].expr  # type: ignore[union-attr]
    assert "weighted" not in page[0].expr  # type: ignore[union-attr]  # no attributions: no share gate


@pytest.mark.parametrize(
    ("impact", "message"),
    [
        ("{}", "impact pages on nothing"),
        ("{attribution_share: 0.1}", "need explain"),
        ("{target: 0.9, metric: roc_auc}", "not computed for a regression model"),
    ],
)
def test_an_impact_gate_that_cannot_work_is_refused_at_its_line(impact: str, message: str) -> None:
    text = _spec(REGRESSOR.replace("{impact: {target: 12.5}}", f"{{impact: {impact}}}"))
    with pytest.raises(SpecError, match=message) as err:
        load_spec_text(text, "spec.yaml")
    assert "spec.yaml:" in str(err.value)
