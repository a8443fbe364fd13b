"""Grafana's alerting provisioning files (provisioning/alerting/) for a `GrafanaAlerting` value: rules,
contact points, the policy tree and mute timings, as Grafana reads them from disk.

Grafana expands `$VAR` and `$__env{VAR}` in a provisioning file, so the fields it interpolates have `$`
escaped (`$$`) except a secret's own `$__env{VAR}` reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alerting.grafana import ENV_REF, GrafanaAlerting, GrafanaTarget, grafana_alerting, prometheus_duration
from slo.writer import dump_yaml
from spec import ResolvedSpec

RULES_FILE = "driftline-rules.yaml"
CONTACT_POINTS_FILE = "driftline-contact-points.yaml"
POLICIES_FILE = "driftline-policies.yaml"
MUTE_TIMINGS_FILE = "driftline-mute-timings.yaml"
_STALE_GLOB = "driftline-*.yaml"


def _literal(value: Any) -> Any:
    """Escape `$` as `$$` in the strings Grafana interpolates from the environment when it reads a file."""
    if isinstance(value, str):
        return value if ENV_REF.match(value) else value.replace("$", "$$")
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    return value


def _seconds_as_duration(seconds: int) -> str:
    return prometheus_duration(f"{seconds}s")


def file_documents(objects: Mapping[str, Any], *, org_id: int = 1) -> dict[str, dict[str, Any]]:
    """The provisioning files' contents (file name -> document) for `grafana_alerting`'s objects.

    Interpolated fields (titles, labels, folder, contact point settings, policies) have `$` escaped;
    annotations and queries are read raw by Grafana and are written as they are.
    """
    folder = objects["folder"]["title"]
    groups = [
        {
            "orgId": org_id,
            "name": _literal(g["title"]),
            "folder": _literal(folder),
            "interval": _seconds_as_duration(g["interval"]),
            "rules": [
                {
                    "uid": r["uid"],
                    "title": _literal(r["title"]),
                    "condition": r["condition"],
                    "data": r["data"],
                    "noDataState": r["noDataState"],
                    "execErrState": r["execErrState"],
                    "for": r["for"],
                    "annotations": r["annotations"],
                    "labels": _literal(r["labels"]),
                    "isPaused": r["isPaused"],
                }
                for r in g["rules"]
            ],
        }
        for g in objects["rule_groups"]
    ]
    docs: dict[str, dict[str, Any]] = {RULES_FILE: {"apiVersion": 1, "groups": groups}}
    points: dict[str, list[dict[str, Any]]] = {}
    for cp in objects["contact_points"]:
        points.setdefault(cp["name"], []).append(
            {
                "uid": cp["uid"],
                "type": cp["type"],
                "settings": _literal(cp["settings"]),
                "disableResolveMessage": cp["disableResolveMessage"],
            }
        )
    if points:
        docs[CONTACT_POINTS_FILE] = {
            "apiVersion": 1,
            "contactPoints": [
                {"orgId": org_id, "name": _literal(name), "receivers": receivers}
                for name, receivers in points.items()
            ],
        }
    docs[POLICIES_FILE] = {
        "apiVersion": 1,
        "policies": [{"orgId": org_id, **_literal(objects["policy_tree"])}],
    }
    if objects["mute_timings"]:
        docs[MUTE_TIMINGS_FILE] = {
            "apiVersion": 1,
            "muteTimes": [{"orgId": org_id, **m} for m in objects["mute_timings"]],
        }
    return dict(sorted(docs.items()))


def render_files(built: GrafanaAlerting, *, org_id: int = 1) -> dict[str, str]:
    """File name -> text of every alerting provisioning file (YAML, apiVersion 1, generated-file header)."""
    return {name: dump_yaml(doc) for name, doc in file_documents(built.objects(), org_id=org_id).items()}


def alerting_files(spec: ResolvedSpec, options: GrafanaTarget | None = None, **kwargs: Any) -> dict[str, str]:
    """File name -> text of every alerting provisioning file (YAML, apiVersion 1, generated-file header).

    Keyword arguments are `grafana_alerting`'s.
    """
    return {
        name: dump_yaml(doc)
        for name, doc in file_documents(grafana_alerting(spec, options, **kwargs)).items()
    }


def write_files(files: Mapping[str, str], out_dir: str | Path) -> list[Path]:
    """Write rendered alerting files into `out_dir` (Grafana's provisioning/alerting/); a generated file
    that `files` no longer holds is removed, and an unchanged one is not rewritten."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(_STALE_GLOB):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_grafana_alerting(
    spec: ResolvedSpec, out_dir: str | Path, options: GrafanaTarget | None = None, **kwargs: Any
) -> list[Path]:
    """Write the alerting provisioning files of a spec into `out_dir` (see `write_files`). Keyword
    arguments are `grafana_alerting`'s."""
    return write_files(alerting_files(spec, options, **kwargs), out_dir)
