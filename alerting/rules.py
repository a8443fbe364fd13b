"""Prometheus alerting rules beyond SLO burn: drift, label freshness, unexpected version, SDK drops, collector down.

Pure: spec in, `RuleGroup`s out, written by `slo.writer` beside the SLO rules. Every alert carries
`severity`, `model` (except the collector-wide one), a summary and description with the current value
and threshold, and, where the spec gives their bases (`slo.links`), a `runbook_url` (the model's own, else
the shipped <runbook_base_url><alert>.md) and a `dashboard_url` to the model's debug dashboard (the
collector's alert: the on-call dashboard). A link the spec cannot make absolute is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from alerting.incident import incident_rules
from alerting.retrains import retrain_rules
from alerting.spend import cost_rules
from alerting.traffic import traffic_rules
from contract import (
    ATTRIBUTION_DRIFT,
    DATA_QUALITY,
    FEATURE_DRIFT,
    LABELS,
    MODEL_VERSION_INFO,
    PREDICTIONS,
    SDK_DROPPED,
)
from slo.links import Links, link_annotations
from slo.rules import AlertingRule, RuleGroup
from slo.windows import format_duration
from spec import Model, ResolvedSpec

COLLECTOR_JOB = "driftline-collector"
#: Every alert this module generates; docs/runbooks/<name>.md exists for each (a test holds this).
ALERTS = (
    "DriftlineCollectorDown",
    "DriftlineFeatureDriftWarning",
    "DriftlineFeatureDriftAlert",
    "DriftlineLabelsStale",
    "DriftlineUnexpectedModelVersion",
    "DriftlineSDKDroppingSamples",
    "DriftlineDataQuality",
    "DriftlineAttributionDrift",
    "DriftlineMultivariateDrift",
    "DriftlineCostBudgetBurn",
    "DriftlineTrafficDrop",
    "DriftlineDriftIncident",
)


@dataclass(frozen=True)
class RuleOptions:
    """Hold times and thresholds; tests scale the durations down."""

    drift_for: str = "15m"
    labels_stale_after: str = "6h"
    version_for: str = "10m"
    drops_for: str = "15m"
    #: Share of a window's values failing a quality check (type, schema, range, unseen category) that alerts.
    quality_threshold: float = 0.05
    quality_for: str = "15m"
    attribution_for: str = "30m"
    collector_down_for: str = "2m"
    collector_job: str = COLLECTOR_JOB
    #: A model's last-hour prediction rate under this share of the same hour last week alerts ...
    traffic_drop_ratio: float = 0.5
    #: ... when last week's rate was at least this many predictions per second, held this long.
    traffic_min_rate: float = 0.01
    traffic_drop_for: str = "30m"


def model_rules(m: Model, o: RuleOptions, links: Links = Links()) -> RuleGroup:
    """The alerts of one model, grouped so Prometheus evaluates them together."""
    sel = f'model="{m.name}"'
    # per-window gauges: the model's first window, the one its alerts read (drift.window lists it first)
    windowed = f'{sel},window="{format_duration(m.drift.window_seconds)}"'
    rules = [*_drift_rules(m, o, windowed), *_input_rules(m, o, sel, windowed), _drops_rule(m, o, sel)]
    if m.multivariate is not None:
        rules.append(_multivariate_rule(m, o, windowed, m.multivariate.method, m.multivariate.p_value))
    if m.version:
        rules.append(_version_rule(m, o, sel, m.version))
    return RuleGroup(f"driftline-model-{m.name}", tuple(_linked(r, m, links) for r in rules))


def _linked(rule: AlertingRule, m: Model, links: Links) -> AlertingRule:
    """The model's alert with its runbook (the model's own, else the shipped one) and its debug dashboard."""
    runbook = m.runbook_url or links.runbook(f"{rule.alert}.md")
    extra = link_annotations(runbook, links.model_dashboard(m.name))
    return replace(rule, annotations={**rule.annotations, **extra})


def _drift_rules(m: Model, o: RuleOptions, sel: str) -> list[AlertingRule]:
    """Warning and alert on the model's first drift statistic, at the spec's two thresholds."""
    metric = m.drift.metrics[0]
    drift = f'{FEATURE_DRIFT.name}{{{sel},metric="{metric}"}}'
    return [
        AlertingRule(
            alert="DriftlineFeatureDriftWarning",
            expr=f"{drift} >= {m.drift.warn} < {m.drift.alert}",
            for_=o.drift_for,
            labels={"severity": "ticket", "model": m.name, "threshold": str(m.drift.warn)},
            annotations={
                "summary": f"{m.name}: feature {{{{ $labels.feature }}}} is drifting ({metric})",
                "description": f"{metric} of {{{{ $labels.feature }}}} in version {{{{ $labels.version }}}} is "
                f'{{{{ $value | printf "%.3f" }}}}, over the warning threshold {m.drift.warn}.',
            },
        ),
        AlertingRule(
            alert="DriftlineFeatureDriftAlert",
            expr=f"{drift} >= {m.drift.alert}",
            for_=o.drift_for,
            labels={"severity": "ticket", "model": m.name, "threshold": str(m.drift.alert)},
            annotations={
                "summary": f"{m.name}: feature {{{{ $labels.feature }}}} has drifted ({metric})",
                "description": f"{metric} of {{{{ $labels.feature }}}} in version {{{{ $labels.version }}}} is "
                f'{{{{ $value | printf "%.3f" }}}}, over the alert threshold {m.drift.alert}.',
            },
        ),
    ]


def _input_rules(m: Model, o: RuleOptions, sel: str, windowed: str) -> list[AlertingRule]:
    """What the model is fed and told: labels gone stale, records failing quality checks, attributions moved
    (the last two from per-window gauges, selected by `windowed`)."""
    return [
        AlertingRule(
            alert="DriftlineLabelsStale",
            expr=(
                f"sum(increase({PREDICTIONS.name}{{{sel}}}[{o.labels_stale_after}])) > 0 "
                f"unless sum(increase({LABELS.name}{{{sel}}}[{o.labels_stale_after}])) > 0"
            ),
            labels={"severity": "ticket", "model": m.name},
            annotations={
                "summary": f"{m.name}: no ground-truth labels for {o.labels_stale_after}",
                "description": f"{m.name} served predictions but received no labels in {o.labels_stale_after}: "
                "accuracy and its SLO cannot be judged.",
            },
        ),
        AlertingRule(
            alert="DriftlineDataQuality",
            expr=(
                f'{DATA_QUALITY.name}{{{windowed},check=~"type_violation|schema_violation|out_of_range|unseen_category"}}'
                f" > {o.quality_threshold}"
            ),
            for_=o.quality_for,
            labels={"severity": "ticket", "model": m.name, "threshold": str(o.quality_threshold)},
            annotations={
                "summary": f"{m.name}: {{{{ $labels.check }}}} on {{{{ $labels.feature }}}}",
                "description": "{{ $value | humanizePercentage }} of the values of {{ $labels.feature }} in version "
                f"{{{{ $labels.version }}}} failed {{{{ $labels.check }}}} in the newest window (threshold "
                f"{o.quality_threshold:.0%}); feature * means whole records.",
            },
        ),
        AlertingRule(
            alert="DriftlineAttributionDrift",
            expr=f"{ATTRIBUTION_DRIFT.name}{{{windowed}}} == 1",
            for_=o.attribution_for,
            labels={"severity": "ticket", "model": m.name},
            annotations={
                "summary": f"{m.name}: {{{{ $labels.kind }}}} attributions of {{{{ $labels.feature }}}} moved",
                "description": "The SHAP attributions of {{ $labels.feature }} ({{ $labels.kind }}) in version "
                "{{ $labels.version }} differ from the reference's in the newest window. kind=loss: the feature's "
                "relation to the target changed (concept drift); kind=prediction: its inputs moved the output.",
            },
        ),
    ]


def _drops_rule(m: Model, o: RuleOptions, sel: str) -> AlertingRule:
    """The SDK drops samples: the collector is unreachable, refusing batches or too slow."""
    return AlertingRule(
        alert="DriftlineSDKDroppingSamples",
        expr=f"sum by (model, version) (rate({SDK_DROPPED.name}{{{sel}}}[5m])) > 0",
        for_=o.drops_for,
        labels={"severity": "ticket", "model": m.name},
        annotations={
            "summary": f"{m.name}: the SDK is dropping samples",
            "description": '{{ $value | printf "%.2f" }} samples/s dropped by the SDK in version '
            "{{ $labels.version }}: the collector is unreachable, refusing batches, or too slow.",
        },
    )


def _multivariate_rule(m: Model, o: RuleOptions, sel: str, method: str, p_value: float) -> AlertingRule:
    """The joint-distribution permutation test (`method`) gives a p-value below the spec's `p_value`."""
    return AlertingRule(
        alert="DriftlineMultivariateDrift",
        expr=f'{FEATURE_DRIFT.name}{{{sel},metric="{method}_p_value"}} < {p_value}',
        for_=o.drift_for,
        labels={"severity": "ticket", "model": m.name, "threshold": str(p_value)},
        annotations={
            "summary": f"{m.name}: the joint distribution of {{{{ $labels.feature }}}} moved ({method})",
            "description": f"The {method} permutation test of {{{{ $labels.feature }}}} (* = the tabular "
            "features jointly, else one embedding) in version {{ $labels.version }} gives p = "
            f'{{{{ $value | printf "%.4f" }}}}, below {p_value}: a change per-feature drift may not show.',
        },
    )


def _version_rule(m: Model, o: RuleOptions, sel: str, version: str) -> AlertingRule:
    """The SDK reports a version other than `version`, the one the spec pins."""
    return AlertingRule(
        alert="DriftlineUnexpectedModelVersion",
        expr=f'{MODEL_VERSION_INFO.name}{{{sel},version!="{version}"}} == 1',
        for_=o.version_for,
        labels={"severity": "ticket", "model": m.name, "expected_version": version},
        annotations={
            "summary": f"{m.name} serves {{{{ $labels.version }}}}, not {version}",
            "description": f"The spec pins {m.name} to version {version} but the SDK reports "
            "{{ $labels.version }}: a deploy that was not planned, or a spec to update.",
        },
    )


def collector_rules(o: RuleOptions, links: Links = Links()) -> RuleGroup:
    """The collector itself: down, or missing from the scrape altogether; it links the on-call dashboard."""
    return RuleGroup(
        "driftline-collector",
        (
            AlertingRule(
                alert="DriftlineCollectorDown",
                expr=f'up{{job="{o.collector_job}"}} == 0 or absent(up{{job="{o.collector_job}"}})',
                for_=o.collector_down_for,
                labels={"severity": "page"},
                annotations={
                    "summary": "The Driftline collector is down",
                    "description": f"Prometheus cannot scrape job {o.collector_job}: no drift, performance or "
                    "SLO figures are being computed, and model alerts are inhibited until it is back.",
                    **link_annotations(links.runbook("DriftlineCollectorDown.md"), links.oncall_dashboard()),
                },
            ),
        ),
    )


def generate_model_rules(spec: ResolvedSpec, options: RuleOptions = RuleOptions()) -> tuple[RuleGroup, ...]:
    """The collector's group, one group per model, in spec order, the spend-budget group of each model with
    a budget (`alerting.spend`), each model's throughput group (`alerting.traffic`), its drift incident
    group (`alerting.incident`) and the retrain-rate group of each model with `retrains:`
    (`alerting.retrains`), linking where `spec.links` says."""
    o = options
    costs = tuple(g for m in spec.models if (g := cost_rules(m, spec.links)) is not None)
    traffic = tuple(
        traffic_rules(
            m, ratio=o.traffic_drop_ratio, min_rate=o.traffic_min_rate, for_=o.traffic_drop_for, links=spec.links
        )
        for m in spec.models
    )
    models = tuple(model_rules(m, o, spec.links) for m in spec.models)
    incidents = tuple(incident_rules(m, for_=o.drift_for, links=spec.links) for m in spec.models)
    retrains = tuple(g for m in spec.models if (g := retrain_rules(m, spec.links)) is not None)
    return (collector_rules(o, spec.links), *models, *costs, *traffic, *incidents, *retrains)
