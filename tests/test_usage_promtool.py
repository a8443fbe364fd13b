"""The generated model rules for cost and throughput, through the real promtool (`test rules` suites).

Each suite in tests/promtool/models/*.test.yaml runs against the model alert rules (`driftline generate`'s
prometheus/driftline-alerts.rules.yaml) generated from tests/promtool/models/usage.spec.yaml. Locally a
missing promtool skips; in CI (CI=true) it fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alerting import generate_model_rules
from slo.writer import write_rules
from spec import load_spec
from tests.test_slo_promtool import promtool, run  # noqa: F401  (the fixture)

SUITES = Path(__file__).parent / "promtool" / "models"


@pytest.mark.parametrize("suite", sorted(SUITES.glob("*.test.yaml")), ids=lambda p: p.name.removesuffix(".test.yaml"))
def test_promtool_unit_suite_passes_over_the_generated_model_rules(
    promtool: str,  # noqa: F811
    suite: Path,
    tmp_path: Path,
) -> None:
    write_rules(generate_model_rules(load_spec(SUITES / "usage.spec.yaml")), tmp_path / "driftline-alerts.rules.yaml")
    shutil.copy(suite, tmp_path / suite.name)
    result = run(promtool, "test", "rules", suite.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_model_without_a_budget_gets_no_cost_rules() -> None:
    names = [g.name for g in generate_model_rules(load_spec(SUITES / "usage.spec.yaml"))]
    assert "driftline-cost-chat" in names and "driftline-cost-unpriced" not in names


def test_only_a_model_with_a_retrain_limit_gets_retrain_rules() -> None:
    names = [g.name for g in generate_model_rules(load_spec(SUITES / "usage.spec.yaml"))]
    assert "driftline-retrains-chat" in names and "driftline-retrains-unpriced" not in names
