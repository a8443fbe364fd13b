"""The repository documents itself: docs/ lists every spec field, setting, endpoint and exported series.

Each test reads the code's own description (the spec model, the settings model, the live OpenAPI, the
series table) and fails naming what docs/ is missing, so the documentation cannot fall behind silently.
The spec reference's examples are run through the spec loader, each at its own field of examples/credit.yaml.
"""

from __future__ import annotations

import copy
import json
import os
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from alerting.rules import ALERTS
from collector.app import create_app
from collector.settings import Settings
from contract import SERIES
from spec import SpecError, SpecFile, load_spec_text
from spec.receivers import KINDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def spec_fields(model: type[BaseModel] = SpecFile, prefix: str = "") -> dict[str, Any]:
    """Every field path of the spec model (list items and map values flattened) with its default."""
    model.model_rebuild()
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or name}" if prefix else field.alias or name
        if field.is_required():
            out[path] = "required"
        elif field.default_factory is not None:
            out[path] = field.default_factory()  # type: ignore[call-arg]
        else:
            out[path] = field.default
        for sub in _models_in(field.annotation):
            out.update(spec_fields(sub, path))
    return out


def _written(value: Any) -> str:
    """A default as the reference writes it: YAML's spelling, `none` for an absent value."""
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_written(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else json.dumps(value)
    if isinstance(value, BaseModel):
        return "{}"
    return str(value)


def _table_rows(text: str) -> dict[str, list[str]]:
    """First cell (without backticks) -> the row's cells, for every Markdown table row."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells
    return rows


def test_the_spec_reference_lists_every_field_with_its_real_default() -> None:
    rows = _table_rows((DOCS / "spec.md").read_text())
    fields = spec_fields()
    missing = sorted(set(fields) - set(rows))
    assert not missing, f"docs/spec.md lacks {missing}"
    stale = sorted(set(rows) - set(fields))
    assert not stale, f"docs/spec.md documents fields the spec no longer has: {stale}"
    wrong = {
        path: (rows[path][2], _written(default))
        for path, default in fields.items()
        if rows[path][2].strip("`") != _written(default)
    }
    assert not wrong, f"documented default differs from the model's (doc, model): {wrong}"


#: The complete example the reference's examples are set into, one field at a time.
CREDIT = yaml.safe_load((ROOT / "examples" / "credit.yaml").read_text())


def _slo(**fields: Any) -> tuple[str, dict[str, Any]]:
    """A credit SLO, of the kind a field applies to, in place of the first one."""
    return "slos", {"name": "credit-slo", "model": "credit", "sli": "availability", "objective": 99, **fields}


#: Fields that apply only to some entries of a list: (that list, an entry they apply to), which replaces
#: the list's first entry before the example is set on it (a field under one of these paths too).
CONTEXTS: dict[str, tuple[str, dict[str, Any]]] = {
    "slos.budgeting": _slo(budgeting="timeslices", target=0.99),
    "slos.timeslice": _slo(budgeting="timeslices", target=0.99),
    "slos.threshold_ms": _slo(sli="latency", threshold_ms=200),
    "slos.target": _slo(sli="accuracy"),
    "slos.max_age": _slo(sli="freshness", max_age="15m"),
    "slos.source": _slo(sli="freshness", max_age="15m"),
    "slos.feature": _slo(sli="freshness", max_age="15m", source="features"),
    # a burn window gives exactly one of factor and budget_percent
    "slos.alerting.windows.budget_percent": (
        "slos.alerting.windows",
        {"severity": "page", "long": "1h", "short": "5m"},
    ),
    # weighing drift by attribution shares needs the model explained
    "models.drift.impact.attribution_share": (
        "models",
        {**CREDIT["models"][0], "explain": {"model": "credit.joblib", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3"
                                                                             "bf4f1b2b0b822cd15d6c15b0f00a08"}},
    ),
    # a receiver has exactly one kind: the first one (`oncall`, which `page` names) becomes this kind
    **{f"alerting.receivers.{kind}": ("alerting.receivers", {"name": "oncall"}) for kind in KINDS},
}
#: Maps of a key to a section: their fields are set in the first value.
MAPS = {"models.drift.thresholds"}


def _example(row: list[str]) -> Any:
    """The row's example cell as YAML reads it; None when the cell is empty or no backticked value."""
    cell = row[3] if len(row) > 4 else ""
    return yaml.safe_load(cell[1:-1]) if len(cell) > 2 and cell[0] == cell[-1] == "`" else None


def _credit_with(path: str, examples: dict[str, Any]) -> dict[str, Any]:
    """examples/credit.yaml with the example of `path` set at that field: in the first entry of each list on
    the way (or the entry CONTEXTS names), inside the section's own example where credit.yaml lacks it."""
    doc = copy.deepcopy(CREDIT)
    context = next((c for p, c in CONTEXTS.items() if path == p or path.startswith(p + ".")), None)
    *sections, field = path.split(".")
    node = doc
    for depth, key in enumerate(sections, 1):
        here = ".".join(sections[:depth])
        if key not in node:
            node[key] = copy.deepcopy(examples[here])
        node = node[key]
        if isinstance(node, list):
            if context is not None and context[0] == here:
                node[0] = copy.deepcopy(context[1])
            node = node[0]
        elif here in MAPS:
            node = next(iter(node.values()))
    node[field] = copy.deepcopy(examples[path])
    return doc


def test_every_documented_field_has_an_example_the_spec_accepts(tmp_path: Path) -> None:
    rows = _table_rows((DOCS / "spec.md").read_text())
    documented = [path for path in spec_fields() if path in rows]  # the test above names missing ones
    examples = {path: _example(rows[path]) for path in documented}
    lacking = [path for path, value in examples.items() if value is None]
    assert not lacking, f"docs/spec.md: no example (or one YAML reads as null: quote it) for {lacking}"
    refused = {}
    for path in documented:
        text = yaml.safe_dump(_credit_with(path, examples), sort_keys=False)
        try:
            load_spec_text(text, source=path, base=tmp_path, models_dir=tmp_path)
        except SpecError as exc:
            refused[path] = exc.problems
    assert not refused, f"docs/spec.md: the spec refuses these examples at their field: {refused}"


def test_the_operators_guide_lists_every_setting() -> None:
    rows = _table_rows((DOCS / "operations.md").read_text())
    wanted = {f"DRIFTLINE_{name.upper()}" for name in Settings.model_fields}
    assert not wanted - set(rows), f"docs/operations.md lacks {sorted(wanted - set(rows))}"
    assert not set(rows) - wanted, f"docs/operations.md documents unknown settings: {sorted(set(rows) - wanted)}"


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("docs") / "openapi.db"
    return create_app(Settings(database_url=f"sqlite:///{db}"), run_loop=False).openapi()


def test_the_committed_openapi_description_is_the_collectors(openapi: dict[str, Any]) -> None:
    path = DOCS / "openapi.json"
    text = json.dumps(openapi, indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_DOCS"):
        path.write_text(text)
    assert path.read_text() == text, "docs/openapi.json is stale: UPDATE_DOCS=1 pytest tests/test_docs.py"


def test_the_api_guide_names_every_operation(openapi: dict[str, Any]) -> None:
    text = (DOCS / "api.md").read_text()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in openapi["paths"].items()
        for method in operations
        if f"`{method.upper()} {path}`" not in text
    ]
    assert not missing, f"docs/api.md lacks {missing}"


def test_the_metrics_reference_lists_every_series_with_its_type_and_labels() -> None:
    rows = _table_rows((DOCS / "metrics.md").read_text())
    wrong = []
    for series in SERIES:
        row = rows.get(series.name)
        if row is None:
            wrong.append(f"{series.name} is missing")
            continue
        if row[1] != series.kind:
            wrong.append(f"{series.name} is a {series.kind}, documented as {row[1]}")
        documented = set(re.findall(r"`([a-z_]+)`", row[2]))
        if documented != set(series.labels):
            wrong.append(f"{series.name} has labels {sorted(series.labels)}, documented {sorted(documented)}")
    stale = sorted(name for name in rows if name.startswith("driftline_") and name not in {s.name for s in SERIES})
    assert not wrong and not stale, f"docs/metrics.md: {wrong}, documents series no longer exported: {stale}"


def test_the_metrics_reference_lists_every_alert_with_its_runbook() -> None:
    rows = _table_rows((DOCS / "metrics.md").read_text())
    missing = [a for a in ALERTS if a not in rows or f"runbooks/{a}.md" not in rows[a][-1]]
    assert not missing, f"docs/metrics.md lacks (or links no runbook for) {missing}"


def test_the_readme_links_every_page_of_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    unlinked = [p for p in pages if f"(docs/{p})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"
    assert "../shared" not in readme, "the README must not point outside the repository"


def test_links_between_pages_resolve() -> None:
    broken = []
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_the_documented_scrape_job_is_the_one_collector_down_watches() -> None:
    """A scrape config copied from the operator's guide must not leave DriftlineCollectorDown firing for ever
    on `absent(up{job=...})` of a job nobody scrapes."""
    from alerting.rules import COLLECTOR_JOB

    jobs = re.findall(r"job_name:\s*(\S+)", (DOCS / "operations.md").read_text())
    assert jobs == [COLLECTOR_JOB]
