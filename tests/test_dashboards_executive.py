"""The executive dashboard's quality row: one metric and one unit per panel (accuracy in percent, MAE alone)."""

from __future__ import annotations

from typing import Any

from dashboards import generate_dashboards
from spec import load_spec_text

SPEC = """\
version: 1
models:
  - name: credit.v2
    features: [{name: income, type: numeric}]
    prediction: {type: binary}
  - name: churn
    features: [{name: tenure, type: numeric}]
    prediction: {type: multiclass}
  - name: demand
    features: [{name: price, type: numeric}]
    prediction: {type: regression}
"""


def quality_panels(text: str) -> dict[str, dict[str, Any]]:
    board = next(b.model for b in generate_dashboards(load_spec_text(text)) if b.uid == "driftline-executive")
    return {p["title"]: p for p in board["panels"] if p["title"].startswith("Realized")}


def test_accuracy_and_mae_never_share_an_axis() -> None:
    """Before: one percent axis drew classifiers' accuracy (0-1) and regressors' MAE (in the target's unit)."""
    got = quality_panels(SPEC)
    assert set(got) == {"Realized accuracy", "Realized mean absolute error"}
    accuracy, mae = got["Realized accuracy"], got["Realized mean absolute error"]
    assert accuracy["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert (accuracy["fieldConfig"]["defaults"]["min"], accuracy["fieldConfig"]["defaults"]["max"]) == (0, 1)
    assert mae["fieldConfig"]["defaults"]["unit"] == "none"
    [acc_expr] = [t["expr"] for t in accuracy["targets"]]
    [mae_expr] = [t["expr"] for t in mae["targets"]]
    assert 'metric="accuracy"' in acc_expr and "mae" not in acc_expr
    assert 'metric="mae"' in mae_expr and "accuracy" not in mae_expr
    # each reads only its own models (a dot in a name is a literal dot in the regular expression)
    assert 'model=~"credit\\\\.v2|churn"' in acc_expr and 'model=~"demand"' in mae_expr


def test_a_spec_of_classifiers_only_has_no_mae_panel_and_regressors_only_no_accuracy_panel() -> None:
    classifiers = SPEC.split("  - name: demand")[0]
    regressors = "version: 1\nmodels:\n  - name: demand" + SPEC.split("  - name: demand")[1]
    assert set(quality_panels(classifiers)) == {"Realized accuracy"}
    assert set(quality_panels(regressors)) == {"Realized mean absolute error"}
