"""Where an alert links: its runbook and its dashboard, as absolute URLs a pager can open, or no link at all.

A link is built only from an absolute base the spec gives: `grafana.url` for dashboards and
`alerting.runbook_base_url` for the runbooks Driftline ships (docs/runbooks/<Alert>.md). Without the base
the annotation is left out; a relative path or a `{placeholder}` never reaches a notification. Model alerts
open that model's debug dashboard, SLO burn alerts the SLO dashboard with the SLO selected, and
`DriftlineCollectorDown` the on-call dashboard.

The dashboard uids live here, below both the alert rules and the dashboards, so the two always agree;
`dashboards.uids` re-exports them. Pure: no I/O (no urllib either: the pure packages may not import it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

EXECUTIVE = "driftline-executive"
ONCALL = "driftline-oncall"
#: The SLO dashboard's uid: burn alerts link to it with `var-model` and `var-slo` set.
SLOS = "driftline-slos"
_MODEL_PREFIX = "driftline-model-"
_MAX = 40
_BAD = re.compile(r"[^a-zA-Z0-9_-]")

#: An absolute http(s) URL without spaces, template braces or quotes; `http://grafana:3000/` and
#: `https://example.com/grafana` pass, `grafana.example.com`, `docs/runbooks/` and `{model}` do not.
_ABSOLUTE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:@%_~]+(/[^\s{}<>\"'`\\]*)?$")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]")


def model_uid(model: str) -> str:
    """The debug dashboard's uid for a model: `driftline-model-<name>`, hashed when too long or unsafe.

    Grafana uids are at most 40 characters of letters, digits, `-` and `_`; a model name that does not
    fit keeps a readable prefix and gains a short hash of the full name, so two models never share a uid.
    """
    uid = _MODEL_PREFIX + model
    if len(uid) <= _MAX and not _BAD.search(model):
        return uid
    digest = hashlib.sha256(model.encode()).hexdigest()[:8]
    slug = _BAD.sub("-", model)[: _MAX - len(_MODEL_PREFIX) - len(digest) - 1]
    return f"{_MODEL_PREFIX}{slug}-{digest}"


def slug(title: str) -> str:
    """The slug Grafana puts after a dashboard's uid in its URL: `Driftline / On-call` -> `driftline-on-call`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


#: Titles of the dashboards alerts link to (the dashboards package builds them with these titles).
ONCALL_TITLE = "Driftline / On-call"
SLOS_TITLE = "Driftline / SLOs"


def model_title(model: str) -> str:
    """The title of a model's debug dashboard."""
    return f"Driftline / Model / {model}"


def is_absolute(url: str) -> bool:
    """An http(s) URL with a host that a browser opens from anywhere, with no placeholder in it."""
    return bool(_ABSOLUTE.match(url))


def check_absolute(url: str, field: str, example: str) -> str:
    """`url`, stripped, when absolute; else a ValueError naming `field` and the fix."""
    text = url.strip()
    if not is_absolute(text):
        raise ValueError(
            f"{field} must be an absolute http(s) URL that opens from a pager or a phone, such as {example} "
            "(a repository path, a host without http:// or https://, or a {placeholder} opens nowhere)"
        )
    return text


def grafana_base(url: str, field: str = "grafana.url", *, cut_dashboard: bool = False) -> str:
    """A Grafana base URL as links start with it, without a trailing slash. With `cut_dashboard` a full
    dashboard link (`.../d/<uid>/...?var-slo={slo}`, what `--dashboard-url` took before) is cut back to
    its base; otherwise a query or a dashboard path is refused, naming `field`."""
    base = url.strip()
    if cut_dashboard:
        base = re.split(r"[?#]", base, maxsplit=1)[0]
        base = re.split(r"/d/", base, maxsplit=1)[0]
    elif re.search(r"[?#]|/d/", base):
        raise ValueError(
            f"{field} is Grafana's base URL, such as https://grafana.example.com, without a dashboard or a "
            "query: each alert links its own dashboard under it"
        )
    return check_absolute(base.rstrip("/"), field, "https://grafana.example.com")


def _quote(value: str) -> str:
    return "".join(c if _UNRESERVED.match(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in value)


@dataclass(frozen=True)
class Links:
    """The bases alert links are built from; None leaves that kind of link out of every alert."""

    #: Grafana as people open it, such as https://grafana.example.com (no trailing slash).
    grafana_url: str | None = None
    #: Where docs/runbooks/ is served, ending in `/`: a shipped runbook is `<base><Alert>.md`.
    runbook_base_url: str | None = None

    def dashboard(self, uid: str, title: str, **variables: str) -> str | None:
        """`<grafana>/d/<uid>/<slug>?var-<name>=<value>...`, or None without a Grafana URL."""
        if self.grafana_url is None:
            return None
        query = "&".join(f"var-{k}={_quote(v)}" for k, v in variables.items())
        return f"{self.grafana_url}/d/{uid}/{slug(title)}" + (f"?{query}" if query else "")

    def model_dashboard(self, model: str) -> str | None:
        """The model's debug dashboard."""
        return self.dashboard(model_uid(model), model_title(model), model=model)

    def slo_dashboard(self, model: str, slo: str) -> str | None:
        """The SLO dashboard opened on one SLO's row."""
        return self.dashboard(SLOS, SLOS_TITLE, model=model, slo=slo)

    def oncall_dashboard(self) -> str | None:
        """The on-call dashboard, every model selected."""
        return self.dashboard(ONCALL, ONCALL_TITLE)

    def runbook(self, page: str, anchor: str | None = None) -> str | None:
        """A shipped runbook (`page` such as DriftlineCollectorDown.md), or None without a runbook base."""
        if self.runbook_base_url is None:
            return None
        return f"{self.runbook_base_url}{page}" + (f"#{anchor}" if anchor else "")


def link_annotations(runbook: str | None, dashboard: str | None) -> dict[str, str]:
    """The `runbook_url` and `dashboard_url` annotations, each only when there is a link."""
    links = {"runbook_url": runbook, "dashboard_url": dashboard}
    return {k: v for k, v in links.items() if v is not None}


def runbook_base(url: str) -> str:
    """A runbook base URL as links start with it: absolute, ending in `/`."""
    base = check_absolute(
        url, "alerting.runbook_base_url", "https://git.example.com/driftline/blob/main/docs/runbooks/"
    )
    return base if base.endswith("/") else base + "/"
