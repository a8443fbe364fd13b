"""One drift alert per model and window, paged only when the drift hurts (issue 19 items 1 and 2).

Pure: a resolved model in, a `RuleGroup` out. `DriftlineDriftIncident` fires once per model, version and
window while any feature's first drift metric is at or over the alert level. Its annotations rank the
contributing features (drift times the feature's share of the mean |SHAP| where the model is explained,
else drift) and, for a model with slices, name the slice whose removal shrinks the top feature's drift
most (found by the collector, `collector.drift_slices`). It is a ticket, unless the model's `drift.impact`
gate holds: the 95% interval of its performance metric (CBPE's estimated accuracy for classifiers, MAE
for regressors) lies wholly on the wrong side of the target, or a feature's drift times its attribution
share reaches `attribution_share`. Then the same incident is a page (one rule each, mutually exclusive),
its annotations stating the rule and its inputs. The per-feature drift alerts stay, and Alertmanager
inhibits them while an incident of the same model fires (`alerting.alertmanager`).
"""

from __future__ import annotations

from contract import DRIFT_SLICE, FEATURE_ATTRIBUTION, FEATURE_DRIFT, MODEL_PERFORMANCE_BOUND
from slo.links import Links, link_annotations
from slo.rules import AlertingRule, RecordingRule, RuleGroup
from slo.windows import format_duration
from spec import Model

ALERT = "DriftlineDriftIncident"
#: A feature's share of its model's mean |SHAP| (prediction attributions), per version and window.
SHARE = f"model_feature:{FEATURE_ATTRIBUTION.family}:share"
#: A feature's first drift metric times that share: how much of the model's behaviour the drift moves.
WEIGHTED = f"model_feature:{FEATURE_DRIFT.family}:weighted"
#: Features listed in the incident's annotations.
TOP_FEATURES = 5
_BY = "model, version, window"


def _ranked(series: str, sel: str) -> str:
    """An annotation listing the incident version's top features of `series`, highest first ("f (0.31), ...")."""
    query = f'sort_desc(topk({TOP_FEATURES}, {series}{{{sel},version=%q}}))'
    return (
        f'{{{{ range $i, $s := query (printf `{query}` $labels.version) }}}}'
        '{{ if $i }}, {{ end }}{{ $s.Labels.feature }} ({{ printf "%.3f" $s.Value }}){{ end }}'
    )


def _now(expr: str) -> str:
    """An annotation fragment: the value `expr` (a printf format over $labels.version) has now, or n/a."""
    return (
        f'{{{{ with query (printf `{expr}` $labels.version) }}}}{{{{ . | first | value | printf "%.3f" }}}}'
        "{{ else }}n/a{{ end }}"
    )


def _slice(sel: str) -> str:
    """An annotation naming the slice whose removal shrinks the top feature's drift most (the collector's)."""
    query = f"{DRIFT_SLICE.name}{{{sel},version=%q}}"
    return (
        f"{{{{ with query (printf `{query}` $labels.version) }}}}{{{{ with . | first }}}}{{{{ .Labels.slice }}}} "
        "explains {{ .Value | humanizePercentage }} of the drift of {{ .Labels.feature }} (removing it shrinks "
        "that drift most){{ end }}{{ else }}none stands out{{ end }}"
    )


def incident_rules(m: Model, *, for_: str, links: Links = Links()) -> RuleGroup:
    """The model's drift incident: the recording rules it ranks features by and its ticket and page alerts."""
    window = format_duration(m.drift.window_seconds)
    sel = f'model="{m.name}",window="{window}"'
    metric = m.drift.metrics[0]
    drift = f'{FEATURE_DRIFT.name}{{{sel},metric="{metric}"}}'
    drifted = f"max by ({_BY}) ({drift} >= {m.drift.alert!r})"
    recording: list[RecordingRule] = []
    weighted = ""
    if m.explain is not None:
        attribution = f'{FEATURE_ATTRIBUTION.name}{{{sel},kind="prediction"}}'
        share = f"{attribution}\n/ on ({_BY}) group_left ()\nsum by ({_BY}) ({attribution})"
        # alerts spell it out (Grafana-managed alerting evaluates no recording rules); the record is for
        # the annotations' ranking and the dashboards
        weighted = f"{drift}\n* on (model, version, feature, window) group_left ()\n({share})"
        recording = [
            RecordingRule(SHARE, share),
            RecordingRule(WEIGHTED, f"{drift}\n* on (model, version, feature, window) group_left ()\n{SHARE}{{{sel}}}"),
        ]
    ranked_by, ranked = (WEIGHTED, "drift x attribution share") if m.explain else (FEATURE_DRIFT.name, "drift")
    rank_sel = sel if m.explain else f'{sel},metric="{metric}"'
    common = {
        "features": _ranked(ranked_by, rank_sel),
        "ranking": f"{ranked} ({metric}), highest first, top {TOP_FEATURES}",
        **({"slice": _slice(sel)} if m.slices else {}),
        **link_annotations(m.runbook_url or links.runbook(f"{ALERT}.md"), links.model_dashboard(m.name)),
    }
    page, gate, inputs = _gate(m, sel, drifted, weighted)
    version = "{{ $labels.version }}"
    summary = f"{m.name}: features drifted in the {window} window of version {version}"
    ticket = AlertingRule(
        alert=ALERT,
        expr=drifted if page is None else f"{drifted}\nunless on ({_BY})\n({page})",
        for_=for_,
        labels={"severity": "ticket", "model": m.name},
        annotations={
            "summary": summary,
            "description": f"{metric} of at least one feature is at or over {m.drift.alert!r}; "
            + (f"it pages only when {gate}, which does not hold now." if page else "drift alone never pages."),
            **({"rule": gate, "inputs": inputs} if page else {}),
            **common,
        },
    )
    rules: list[RecordingRule | AlertingRule] = [*recording, ticket]
    if page is not None:
        rules.append(
            AlertingRule(
                alert=ALERT,
                expr=page,
                for_=for_,
                labels={"severity": "page", "model": m.name},
                annotations={
                    "summary": f"{m.name}: drift that hurts in the {window} window of version {version}",
                    "description": f"Paged because {gate}.",
                    "rule": gate,
                    "inputs": inputs,
                    **common,
                },
            )
        )
    return RuleGroup(f"driftline-incident-{m.name}", tuple(rules))


def _gate(m: Model, sel: str, drifted: str, weighted: str) -> tuple[str | None, str, str]:
    """The page's expression, its rule in words and the annotation showing its inputs now (None: no gate)."""
    impact = m.impact
    if impact is None:
        return None, "", ""
    exprs, words, inputs = [], [], []
    if impact.target is not None:
        bound, op, side = ("lower", ">", "above") if impact.lower_is_better else ("upper", "<", "below")
        interval = f'{MODEL_PERFORMANCE_BOUND.name}{{{sel},slice="all",metric="{impact.metric}",bound="{bound}"}}'
        exprs.append(f"({drifted}\nand on ({_BY})\nmax by ({_BY}) ({interval} {op} {impact.target!r}))")
        words.append(f"the {bound} bound of {impact.metric}'s 95% interval is {side} the target {impact.target!r}")
        inputs.append(f"{impact.metric} {bound} bound {_now(interval.replace('}', ',version=%q}'))}")
    if impact.attribution_share is not None and weighted:
        exprs.append(f"max by ({_BY}) (\n{weighted}\n>= {impact.attribution_share!r})")
        words.append(
            f"a feature's {m.drift.metrics[0]} times its attribution share reaches {impact.attribution_share!r}"
        )
        inputs.append(f"top drift x share {_now(f'max({WEIGHTED}{{{sel},version=%q}})')}")
    return "\nor\n".join(exprs), ", or ".join(words), "; ".join(inputs)
