"""Alerts link somewhere (issue 14 item 12): every link a pager shows is absolute and placeholder-free.

`driftline generate` runs on every example; each runbook and dashboard link in the Prometheus rules, the
Grafana-managed rules and the contact points must be an http(s) URL with no `{placeholder}` and no empty
`var-...=` parameter. Contact-point templates may only take their links from the alert's annotations,
which are checked themselves. Model alerts open their model's dashboard, SLO alerts the SLO dashboard on
that SLO. Without `grafana.url` or `alerting.runbook_base_url` the link is left out, never made relative.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline import cli
from slo.links import Links, grafana_base, model_uid, runbook_base
from spec import SpecError, load_spec_text
from tests.conftest import EXAMPLES

ARGS = [
    "--database-url",
    "postgresql+psycopg://driftline@db/driftline",
    "--prometheus-url",
    "http://prometheus:9090",
]
#: Every generated file an alert or a notification is made from.
ALERTING_FILES = (
    "prometheus/driftline-slo.rules.yaml",
    "prometheus/driftline-alerts.rules.yaml",
    "alertmanager/alertmanager.yml",
    "grafana/provisioning/alerting/driftline-rules.yaml",
    "grafana/provisioning/alerting/driftline-contact-points.yaml",
)
LINK_KEYS = ("runbook_url", "dashboard_url")
URL = re.compile(r"https?://[^\s\"'<>]+")
#: A template's reference to a link: only an annotation, such as `{{ .CommonAnnotations.runbook_url }}`.
LINK_TEMPLATE = re.compile(r"\{\{[^}]*\.(Common)?Annotations\.(runbook_url|dashboard_url)\s*\}\}")


def _generate(spec: Path, out: Path, *extra: str) -> dict[str, Any]:
    assert cli.main(["generate", str(spec), "--out", str(out), *ARGS, *extra]) == 0
    return {
        name: yaml.safe_load((out / name).read_text()) for name in ALERTING_FILES if (out / name).exists()
    }


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) for every string value in a parsed file, with the key it sits under."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield key, node


def _alerts(docs: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, rule) for every alerting rule, Prometheus's and Grafana's."""
    for name, doc in docs.items():
        if name.endswith("rules.yaml") or name.endswith("driftline-rules.yaml"):
            for group in doc["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule or "title" in rule:
                        yield name, rule


def assert_openable(url: str, where: str) -> None:
    """An absolute http(s) URL without a placeholder or an empty `var-` parameter."""
    assert re.fullmatch(r"https?://[^/\s{}]+(/\S*)?", url), f"{where}: {url!r} is not absolute"
    assert "{" not in url and "}" not in url, f"{where}: {url!r} holds a placeholder"
    assert not re.search(r"[?&]var-[\w-]+=(&|#|$)", url), f"{where}: {url!r} has an empty variable"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_no_generated_link_is_relative_or_holds_a_placeholder(example: Path, tmp_path: Path) -> None:
    docs = _generate(example, tmp_path)
    alerts = list(_alerts(docs))
    assert alerts
    for name, rule in alerts:
        where = f"{example.stem}: {name}: {rule.get('alert') or rule.get('title')}"
        annotations = rule["annotations"]
        assert set(LINK_KEYS) <= set(annotations), f"{where} lacks a link though the example sets both bases"
        for key in LINK_KEYS:
            assert_openable(annotations[key], f"{where}: {key}")
    for name, doc in docs.items():
        for key, text in _strings(doc):
            for url in URL.findall(text):
                assert_openable(url, f"{example.stem}: {name}: {key}")
            if "Annotations.runbook_url" in text or "Annotations.dashboard_url" in text:
                assert LINK_TEMPLATE.search(text), f"{name}: {key} builds a link itself: {text!r}"
            assert "docs/runbooks" not in URL.sub("", text), (
                f"{name}: {key}: a relative runbook path: {text!r}"
            )


def test_model_alerts_open_their_models_dashboard_and_slo_alerts_the_slo_dashboard_on_that_slo(
    tmp_path: Path,
) -> None:
    docs = _generate(EXAMPLES / "fraud.yaml", tmp_path)
    for name, rule in _alerts(docs):
        labels, url = rule["labels"], rule["annotations"]["dashboard_url"]
        if "slo" in labels:
            want = f"https://grafana.example.com/d/driftline-slos/driftline-slos?var-model=fraud&var-slo={labels['slo']}"
        elif "model" in labels:
            want = "https://grafana.example.com/d/driftline-model-fraud/driftline-model-fraud?var-model=fraud"
        else:
            want = "https://grafana.example.com/d/driftline-oncall/driftline-on-call"
        assert url == want, (name, labels)
        runbook = rule["annotations"]["runbook_url"]
        assert runbook.startswith("https://git.example.com/driftline/blob/main/docs/runbooks/Driftline"), (
            runbook
        )


def test_the_shipped_runbook_links_name_runbooks_that_exist(tmp_path: Path) -> None:
    docs = _generate(EXAMPLES / "fraud.yaml", tmp_path)
    base = "https://git.example.com/driftline/blob/main/docs/runbooks/"
    pages = {rule["annotations"]["runbook_url"].removeprefix(base).split("#")[0] for _, rule in _alerts(docs)}
    docs_dir = EXAMPLES.parent / "docs" / "runbooks"
    assert pages and all((docs_dir / page).is_file() for page in pages), pages


BARE = """\
models:
  - name: churn
    features: [{name: tenure, type: numeric}]
    prediction: {type: binary}
slos:
  - {name: churn-availability, model: churn, sli: availability, objective: 99.9}
"""


def test_without_the_bases_alerts_carry_no_link_and_generate_says_which_setting_adds_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bare.yaml"
    spec.write_text(BARE)
    docs = _generate(spec, tmp_path / "out")
    for name, rule in _alerts(docs):
        assert not set(LINK_KEYS) & set(rule["annotations"]), (name, rule["annotations"])
    err = capsys.readouterr().err
    assert "grafana.url is not set" in err and "alerting.runbook_base_url is not set" in err
    assert "DriftlineCollectorDown, churn's" in err
    assert cli.main(["check", str(spec)]) == 0
    assert "grafana.url is not set" in capsys.readouterr().err


def test_a_models_own_runbook_needs_no_runbook_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "own.yaml"
    spec.write_text(
        BARE.replace("    prediction:", "    runbook_url: https://wiki.example.com/churn\n    prediction:")
    )
    docs = _generate(spec, tmp_path / "out", "--grafana-url", "https://grafana.example.com/")
    for _, rule in _alerts(docs):
        if rule["labels"].get("model") == "churn":
            assert rule["annotations"]["runbook_url"] == "https://wiki.example.com/churn"
            assert rule["annotations"]["dashboard_url"].startswith("https://grafana.example.com/d/")
    err = capsys.readouterr().err
    assert "grafana.url" not in err and "the alerts of DriftlineCollectorDown carry no runbook link" in err


def test_the_old_dashboard_url_template_still_works_cut_back_to_the_grafana_base(tmp_path: Path) -> None:
    legacy = "http://grafana:3000/d/driftline-slos/driftline-slos?var-model={model}&var-slo={slo}"
    docs = _generate(EXAMPLES / "credit.yaml", tmp_path, "--dashboard-url", legacy)
    urls = {rule["annotations"]["dashboard_url"] for _, rule in _alerts(docs)}
    assert all(u.startswith("http://grafana:3000/d/") and "{" not in u for u in urls), urls


def test_a_relative_grafana_url_on_the_command_line_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(
            [
                "generate",
                str(EXAMPLES / "credit.yaml"),
                "--out",
                str(tmp_path),
                "--grafana-url",
                "grafana:3000",
            ]
        )
    assert exc.value.code == 2
    assert "--grafana-url must be an absolute http(s) URL" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


CREDIT = (EXAMPLES / "credit.yaml").read_text()
RUNBOOK_BASE = "runbook_base_url: https://git.example.com/driftline/blob/main/docs/runbooks/"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "runbook_url: https://runbooks.example.com/driftline/credit",
            "runbook_url: docs/runbooks/credit.md",
            "models.0.runbook_url",
        ),
        (
            "runbook_url: https://runbooks.example.com/driftline/credit",
            "runbook_url: runbooks.example.com/credit",
            "models.0.runbook_url",
        ),
        (RUNBOOK_BASE, "runbook_base_url: docs/runbooks/", "alerting.runbook_base_url"),
        ("url: https://grafana.example.com", "url: localhost:3000", "grafana.url"),
        (
            "url: https://grafana.example.com",
            "url: 'https://g.example.com/d/driftline-slos/x?var-slo={slo}'",
            "grafana.url",
        ),
    ],
)
def test_the_spec_refuses_a_link_a_pager_cannot_open_naming_the_field_and_the_fix(
    old: str, new: str, field: str
) -> None:
    assert old in CREDIT
    with pytest.raises(SpecError) as exc:
        load_spec_text(CREDIT.replace(old, new, 1))
    message = str(exc.value)
    assert field in message and "such as https://" in message, message


def test_bases_are_normalised_so_links_join_cleanly() -> None:
    assert grafana_base("https://grafana.example.com/") == "https://grafana.example.com"
    assert grafana_base(" https://example.com/grafana ") == "https://example.com/grafana"
    assert runbook_base("https://git.example.com/rb") == "https://git.example.com/rb/"
    links = Links("https://example.com/grafana", "https://git.example.com/rb/")
    assert links.runbook("DriftlineLabelsStale.md") == "https://git.example.com/rb/DriftlineLabelsStale.md"
    assert (
        links.model_dashboard("a.b")
        == f"https://example.com/grafana/d/{model_uid('a.b')}/driftline-model-a-b?var-model=a.b"
    )
