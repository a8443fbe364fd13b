"""The generated rules through the real promtool: `check rules` on every example, `test rules` suites for behaviour.

Each suite in tests/promtool/*.test.yaml runs against the whole rule file generated here, into a temporary
folder, from its spec (`SPECS`; a suite names `driftline-slo.rules.yaml` beside itself). Two small specs
rather than one keep the suites fast. Locally a missing promtool skips; in CI (CI=true) it fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from slo.rules import generate_rules
from slo.writer import write_rule_file, write_rules
from spec import load_spec
from tests.conftest import EXAMPLES, missing

SUITES = Path(__file__).parent / "promtool"
#: The spec each suite's rules are generated from; burn.spec.yaml unless named here.
SPECS = {"sli_kinds": "sli_kinds.spec.yaml", "gauge_cadence": "gauge_cadence.spec.yaml"}


def find_promtool() -> str:
    """promtool's path; skips locally, fails in CI, naming the package to install."""
    found = shutil.which("promtool")
    if found is None:
        missing("promtool", "apt-get install prometheus (Debian's package ships promtool)")
    assert found is not None
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_promtool()


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_promtool_check_rules_passes_on_the_rules_generated_from_each_example(
    promtool: str, example: Path, tmp_path: Path
) -> None:
    rules = write_rule_file(load_spec(example), tmp_path)
    result = run(promtool, "check", "rules", rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules_does_fail_on_a_broken_rule_file(promtool: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules.yaml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - record: slo:x\n        expr: sum(rate(x[5m])\n")
    assert run(promtool, "check", "rules", bad).returncode != 0


@pytest.mark.parametrize(
    "suite", sorted(SUITES.glob("*.test.yaml")), ids=lambda p: p.name.removesuffix(".test.yaml")
)
def test_promtool_unit_suite_passes_over_the_generated_rules(
    promtool: str, suite: Path, tmp_path: Path
) -> None:
    spec = SPECS.get(suite.name.removesuffix(".test.yaml"), "burn.spec.yaml")
    write_rules(generate_rules(load_spec(SUITES / spec)), tmp_path / "driftline-slo.rules.yaml")
    shutil.copy(suite, tmp_path / suite.name)
    result = run(promtool, "test", "rules", suite.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_promtool_fails_in_ci_and_skips_locally_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for ci, outcome in ((True, pytest.fail.Exception), (False, pytest.skip.Exception)):
        monkeypatch.setattr("tests.conftest.IN_CI", ci)
        with pytest.raises(outcome, match="apt-get install prometheus"):
            find_promtool()


def test_every_behaviour_the_issue_asks_for_has_a_suite() -> None:
    names = {p.name for p in SUITES.glob("*.test.yaml")}
    assert {
        "fast_burn_pages.test.yaml",  # a 14.4x burn held for the window pages; recovery resolves
        "slow_burn_tickets.test.yaml",  # a 2x burn never pages and opens a ticket after its window
        "low_traffic_gate.test.yaml",  # traffic under the gate fires nothing
        "sli_kinds.test.yaml",  # each SLI kind's PromQL over the collector's series
        "low_traffic_outage.test.yaml",  # a total outage at a call every 3 minutes pages; one failure does not
        "period_ratio.test.yaml",  # the period's ratio sums counts: uneven traffic, stopped traffic, no NaN
        "gauge_cadence.test.yaml",  # an hourly gauge alerts on whole windows, not on one bad window
    } <= names
