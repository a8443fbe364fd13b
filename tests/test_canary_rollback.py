"""alerting.canary_rollback: a model's pages also call its rollback webhook, in a config amtool accepts and
routes; bad entries are refused at their line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerting import build_config
from alerting.grafana import build_from_spec
from slo.writer import dump_yaml
from spec import SpecError, load_spec_text
from tests.test_alerting import SPEC, binary

ROLLBACK = """\
  canary_rollback:
    - {model: credit, webhook_url: "https://deploy.example.com/rollback/credit", bearer_token_env: DEPLOY_TOKEN}
"""


def _spec(extra: str = ROLLBACK) -> str:
    return SPEC.replace("BASE", "http://pd.example.com").replace("SECRETS", "/s") + extra


def test_amtool_routes_a_canary_models_page_to_its_rollback_webhook_and_the_pager(tmp_path: Path) -> None:
    amtool = binary("amtool")
    config = build_config(load_spec_text(_spec()).alerting)
    path = tmp_path / "alertmanager.yml"
    path.write_text(dump_yaml(config))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    def receivers(*labels: str) -> str:
        out = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", *labels], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert receivers("severity=page", "model=credit", "version=v2") == "driftline-rollback-credit,oncall"
    assert receivers("severity=page", "model=fraud") == "oncall"
    assert receivers("severity=ticket", "model=credit") == "ml-team"
    hook = next(r for r in config["receivers"] if r["name"] == "driftline-rollback-credit")["webhook_configs"][0]
    assert hook["url"] == "https://deploy.example.com/rollback/credit"
    assert hook["http_config"]["authorization"]["credentials_file"] == "/s/DEPLOY_TOKEN"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ('{model: credti, webhook_url: "https://x.example.com/r"}', ["<spec>:16:", "credti", "credit"]),
        ('{model: credit, webhook_url: "rollback.sh"}', ["<spec>:16:", "absolute http(s) URL"]),
        ('{model: credit, webhook_url: "https://x.example.com/r", token: T}', ["<spec>:16:", "token"]),
    ],
    ids=["a misspelt model, with the declared name offered", "a relative URL", "an unknown field"],
)
def test_a_bad_rollback_entry_is_refused_at_its_line(entry: str, words: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(_spec(f"  canary_rollback:\n    - {entry}\n"))
    text = str(err.value)
    assert all(w in text for w in words), text


def test_grafana_managed_alerting_gets_the_rollback_contact_point_its_policy_names() -> None:
    built = build_from_spec(load_spec_text(_spec()))
    points = {p["name"]: p for p in built.contact_points}
    assert points["driftline-rollback-credit"]["type"] == "webhook"
    assert points["driftline-rollback-credit"]["settings"]["url"] == "https://deploy.example.com/rollback/credit"
    first = built.route["routes"][0]
    assert first["receiver"] == "driftline-rollback-credit" and first["continue"] is True


def test_a_receiver_may_not_take_a_rollback_receivers_name() -> None:
    taken = _spec("").replace("{name: ml-team,", "{name: driftline-rollback-credit,").replace(
        "ticket: ml-team", "ticket: driftline-rollback-credit"
    )
    with pytest.raises(SpecError, match="kept for canary_rollback"):
        load_spec_text(taken)


def test_one_model_listed_twice_is_refused() -> None:
    twice = "    - {model: credit, webhook_url: \"https://y.example.com/r\"}\n"
    with pytest.raises(SpecError, match="listed twice"):
        load_spec_text(_spec(ROLLBACK + twice))
