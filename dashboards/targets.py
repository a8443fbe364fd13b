"""Panel queries: PromQL through the SDK's Prometheus builder, raw SQL through a typed PostgreSQL query.

The foundation SDK ships no builder for Grafana's PostgreSQL datasource, so `SQLQuery` is one, in the
SDK's own shape (a `Dataquery` variant with `to_json`/`from_json`, registered with its runtime so a
dashboard read back with `Dashboard.from_json` keeps its SQL targets typed).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards.options import POSTGRES_PLUGIN

SQLFormat = Literal["table", "time_series"]


class SQLQuery(cogvariants.Dataquery):
    """A raw-SQL target of Grafana's PostgreSQL datasource, as Grafana stores it in a panel."""

    def __init__(
        self,
        raw_sql: str = "",
        format_val: SQLFormat = "table",
        ref_id: str = "",
        datasource: model.DataSourceRef | None = None,
    ) -> None:
        self.raw_sql = raw_sql
        self.format = format_val
        self.ref_id = ref_id
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        """The target as panel JSON."""
        payload: dict[str, object] = {
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a target written by `to_json`."""
        ds = data.get("datasource")
        return cls(
            raw_sql=data.get("rawSql", ""),
            format_val=data.get("format", "table"),
            ref_id=data.get("refId", ""),
            datasource=model.DataSourceRef.from_json(ds) if isinstance(ds, dict) else None,
        )


cogruntime.register_dataquery_variant(
    cogruntime.DataqueryConfig(identifier=POSTGRES_PLUGIN, from_json_hook=SQLQuery.from_json)
)
cogruntime.register_dataquery_variant(
    cogruntime.DataqueryConfig(identifier="postgres", from_json_hook=SQLQuery.from_json)
)


class SQL(cogbuilder.Builder[SQLQuery]):
    """Builder of a `SQLQuery`, chained like the SDK's builders."""

    def __init__(self, raw_sql: str, format_val: SQLFormat = "table") -> None:
        self._internal = SQLQuery(raw_sql=raw_sql, format_val=format_val)

    def build(self) -> SQLQuery:
        """The query."""
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        """Name the target (A, B, ...)."""
        self._internal.ref_id = ref_id
        return self

    def datasource(self, datasource: model.DataSourceRef) -> Self:
        """Point the target at a datasource."""
        self._internal.datasource = datasource
        return self


def sql(raw_sql: str, format_val: SQLFormat = "table") -> SQL:
    """A raw-SQL target; leading indentation is removed so the stored query reads well."""
    lines = [line.rstrip() for line in raw_sql.strip("\n").splitlines()]
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return SQL("\n".join(x[indent:] for x in lines), format_val)


def prom(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> prometheus.Dataquery:
    """A PromQL target: a range query with a legend, or an instant one (optionally as a table)."""
    q = prometheus.Dataquery().expr(expr)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if table:
        q = q.format(PromQueryFormat.TABLE)
    return q


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled), for names known when the dashboard is generated."""
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(value: str) -> str:
    """A double-quoted SQL identifier, for column aliases named after features."""
    return '"' + value.replace('"', '""') + '"'
