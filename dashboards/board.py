"""The shared frame of every Driftline dashboard: numbering, variables, deploy annotations, thresholds.

`Board` wraps the foundation SDK's dashboard builder: panels get ids 1, 2, ... in the order they are
added and their targets refIds A, B, ..., so the same spec always gives the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.options import GrafanaOptions
from slo.windows import format_duration

#: Every generated dashboard carries these tags; provisioning prunes only dashboards tagged GENERATED_TAG.
TAGS = ("driftline",)
GENERATED_TAG = "driftline-generated"
#: Tags of the annotation posted when a model starts serving a new version (see `deploy_tags`).
DEPLOY_TAG = "driftline-deploy"
#: Tags of the annotation posted for each reported retrain, deploy or rollback (see `event_tags`).
EVENT_TAG = "driftline-event"


def deploy_tags(model_name: str, version: str) -> list[str]:
    """The tags of a deploy annotation: the dashboards filter on DEPLOY_TAG and `model:<name>`."""
    return [DEPLOY_TAG, f"model:{model_name}", f"version:{version}"]


def event_tags(model_name: str, kind: str, version: str | None = None) -> list[str]:
    """The tags of an event annotation: the model dashboard filters on EVENT_TAG and `model:<name>`."""
    return [EVENT_TAG, f"model:{model_name}", f"kind:{kind}", *([f"version:{version}"] if version else [])]


class _Panel(Protocol):
    def id(self, __id_val: int) -> Any: ...
    def with_target(self, __target: cogbuilder.Builder[cogvariants.Dataquery]) -> Any: ...
    def datasource(self, __datasource: model.DataSourceRef) -> Any: ...
    def build(self) -> model.Panel: ...


class _Target(Protocol):
    def ref_id(self, __ref_id: str) -> Any: ...
    def datasource(self, __datasource: model.DataSourceRef) -> Any: ...
    def build(self) -> cogvariants.Dataquery: ...


def prometheus_ref(options: GrafanaOptions) -> model.DataSourceRef:
    """Reference to the Prometheus datasource."""
    return model.DataSourceRef(type_val="prometheus", uid=options.prometheus.uid)


def postgres_ref(options: GrafanaOptions) -> model.DataSourceRef:
    """Reference to the PostgreSQL datasource (only meaningful when `options.postgres` is set)."""
    pg = options.postgres
    if pg is None:
        raise ValueError("no PostgreSQL datasource is configured, so there are no SQL panels")
    return model.DataSourceRef(type_val=pg.plugin, uid=pg.uid)


class Board:
    """A dashboard under construction."""

    def __init__(
        self,
        uid: str,
        title: str,
        description: str,
        options: GrafanaOptions,
        *,
        tags: Sequence[str] = (),
        time_from: str = "now-6h",
    ) -> None:
        self.options = options
        self.prometheus = prometheus_ref(options)
        self._next_id = 1
        self._builder = (
            builders.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags([*TAGS, GENERATED_TAG, *tags])
            .editable()
            .tooltip(model.DashboardCursorSync.CROSSHAIR)
            .time(time_from, "now")
            .timezone("browser")
            .refresh(options.refresh)
            .annotation(_builtin_annotations())
        )

    @property
    def postgres(self) -> model.DataSourceRef:
        """The PostgreSQL datasource reference."""
        return postgres_ref(self.options)

    def variable(self, variable: cogbuilder.Builder[model.VariableModel]) -> Board:
        """Add a template variable."""
        self._builder.with_variable(variable)
        return self

    def deploys(self, tags: Sequence[str]) -> Board:
        """Show deploy annotations carrying all of `tags` (template variables allowed)."""
        self._builder.annotation(
            builders.AnnotationQuery()
            .name("Deploys")
            .datasource(model.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(False)
            .icon_color("purple")
            .target(builders.AnnotationTarget().type("tags").tags(list(tags)).match_any(False).limit(100))
        )
        return self

    def events(self, tags: Sequence[str]) -> Board:
        """Show event annotations (retrains, deploys, rollbacks reported to the collector) carrying `tags`."""
        self._builder.annotation(
            builders.AnnotationQuery()
            .name("Events")
            .datasource(model.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(False)
            .icon_color("orange")
            .target(builders.AnnotationTarget().type("tags").tags(list(tags)).match_any(False).limit(100))
        )
        return self

    def row(self, title: str, repeat: str | None = None) -> Board:
        """Start a row; `repeat` repeats it for every selected value of that variable."""
        row = builders.Row(title).id(self._take_id())
        if repeat:
            row = row.repeat(repeat)
        self._builder.with_row(row)
        return self

    def add(self, panel: _Panel, *targets: _Target, sql: bool = False) -> Board:
        """Add a panel with its targets, on Prometheus or (sql=True) on PostgreSQL."""
        ds = self.postgres if sql else self.prometheus
        for i, target in enumerate(targets):
            target.ref_id(chr(ord("A") + i))
            target.datasource(ds)
            panel.with_target(target)  # type: ignore[arg-type]
        panel.id(self._take_id())
        panel.datasource(ds)
        self._builder.with_panel(panel)  # type: ignore[arg-type]
        return self

    def to_json(self) -> dict[str, Any]:
        """The dashboard model as plain JSON data."""
        data: dict[str, Any] = json.loads(json.dumps(self._builder.build(), cls=JSONEncoder))
        return data

    def _take_id(self) -> int:
        n = self._next_id
        self._next_id += 1
        return n


def _builtin_annotations() -> builders.AnnotationQuery:
    return (
        builders.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(model.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .type("dashboard")
        .built_in(1)
    )


def thresholds(*steps: tuple[float | None, str]) -> builders.ThresholdsConfig:
    """Absolute thresholds from (value, colour) pairs; the first value is None (minus infinity)."""
    return (
        builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=v, color=c) for v, c in steps])
    )


def threshold_lines() -> common_builders.GraphThresholdsStyleConfig:
    """Draw thresholds as dashed lines on a time series."""
    return common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)


def override(name: str, **properties: object) -> tuple[str, list[model.DynamicConfigValue]]:
    """Arguments of `override_by_name`: a field name and its properties (`custom.x` as `custom__x`)."""
    return name, [
        model.DynamicConfigValue(id_val=k.replace("__", "."), value=v) for k, v in properties.items()
    ]


def _option(value: str, text: str | None = None) -> model.VariableOption:
    return model.VariableOption(selected=True, text=text or value, value=value)


def custom_variable(
    name: str, label: str, values: Sequence[str], *, multi: bool = True, include_all: bool = True
) -> builders.CustomVariable:
    """A variable over values known when the dashboard is generated (models, SLOs, features)."""
    v = (
        builders.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .multi(multi)
        .include_all(include_all and multi)
        .options([model.VariableOption(selected=False, text=x, value=x) for x in values])
    )
    if multi and include_all:
        return v.current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    if values:
        return v.current(_option(values[0]))
    return v


def window_variable(windows: Sequence[int]) -> builders.CustomVariable:
    """The window length the per-window panels show: text as the `window` label spells it (1h), value in
    seconds as the tables' `window_seconds` column holds it; the model's first window (its alerts') first."""
    texts = [format_duration(w) for w in windows]
    return (
        builders.CustomVariable("window")
        .label("Window")
        .values(",".join(f"{t} : {w}" for t, w in zip(texts, windows, strict=True)))
        .multi(False)
        .include_all(False)
        .options(
            [
                model.VariableOption(selected=i == 0, text=t, value=str(w))
                for i, (t, w) in enumerate(zip(texts, windows, strict=True))
            ]
        )
        .current(_option(str(windows[0]), texts[0]))
    )


def constant_variable(name: str, value: str) -> builders.ConstantVariable:
    """A hidden variable with one value (the model of a per-model dashboard)."""
    return builders.ConstantVariable(name).value(value)


def query_variable(
    name: str, label: str, query: str, options: GrafanaOptions, *, multi: bool = True
) -> builders.QueryVariable:
    """A variable filled from Prometheus with `label_values(...)`, refreshed with the time range."""
    return (
        builders.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(prometheus_ref(options))
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )
