"""All dashboards of a spec, as plain JSON models with stable uids (pure: spec in, data out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboards.debug import debug
from dashboards.executive import executive
from dashboards.oncall import oncall
from dashboards.options import GrafanaOptions
from dashboards.slos import slos
from spec import ResolvedSpec


@dataclass(frozen=True)
class GeneratedDashboard:
    """One dashboard: its uid, title and Grafana JSON model (without `id` or `version`)."""

    uid: str
    title: str
    model: dict[str, Any]

    @property
    def filename(self) -> str:
        """The file name of its provisioning JSON."""
        return f"{self.uid}.json"


def generate_dashboards(
    spec: ResolvedSpec, options: GrafanaOptions | None = None
) -> tuple[GeneratedDashboard, ...]:
    """Executive, on-call, SLO (when the spec has SLOs) and one debug dashboard per model, sorted by uid."""
    options = options or GrafanaOptions()
    models = [executive(spec, options), oncall(spec, options)]
    if spec.slos:
        models.append(slos(spec, options))
    models += [debug(m, options) for m in spec.models]
    out = [GeneratedDashboard(uid=d["uid"], title=d["title"], model=d) for d in models]
    uids = [d.uid for d in out]
    if len(set(uids)) != len(uids):
        raise ValueError(f"two dashboards share a uid: {sorted(uids)}")
    return tuple(sorted(out, key=lambda d: d.uid))
