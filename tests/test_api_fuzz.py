"""schemathesis against a real collector process: every operation of its /openapi.json, generated inputs
(valid and invalid) sent with every kind of token (admin, ingest, read, another project's, none). No answer is
a 5xx, and every answer, its status code included, is one the description documents (issue 13, acceptance).

Each generated request is sent once per token kind, so adding a kind is one entry in TOKEN_KINDS. Generation
is derandomized with no deadline and no example database, so a run is reproducible in CI; every problem is
collected (operation, token, status, input) and reported together instead of stopping at the first.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import EXAMPLES, Collector, cli, start_collector
from tests.test_collector_api import batch, records, reference

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
#: Generated inputs per operation and generation mode (valid, invalid, valid on the seeded model); each is
#: sent once per token kind: about 3,200 requests with five kinds (2,600 with four), fewer than 19 x 3 x 16
#: x 5 as some operations have no path parameter to seed and few distinct inputs (GET /healthz has one).
EXAMPLES_PER_STRATEGY = 16
MIN_REQUESTS = 2000
#: Path parameters naming what the seeded collector holds, so reads also answer 200 with a body to check.
KNOWN = {"model": "credit", "name": "credit-availability"}
OTHER_PROJECT = "other"


def other_project_token(c: Collector) -> str:
    """An admin token of another project: it may touch none of the default project's models."""
    out = cli(
        "token", "create", "--scope", "admin", "--project", OTHER_PROJECT, "--database-url", c.database_url
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip().startswith("dl_"), out.stderr
    return out.stdout.strip()


#: Every kind of caller, by the token it presents (None: no Authorization header at all).
TOKEN_KINDS: dict[str, Callable[[Collector], str | None]] = {
    "admin": lambda c: c.admin,
    "ingest": lambda c: c.ingest,
    "read": lambda c: c.read,
    "missing": lambda c: None,
    "wrong-project": other_project_token,
}


@dataclass(frozen=True)
class Finding:
    operation: str
    token: str
    status: int
    problem: str
    request: str

    def __str__(self) -> str:
        return f"{self.operation} with the {self.token} token -> {self.status}: {self.problem}\n    {self.request}"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, dict[str, str | None]]]:
    """A collector on SQLite with the credit spec, a reference, records and evaluated windows, and no rate
    limits (the fuzzer would otherwise mostly meet 429s); plus one token per kind."""
    workdir = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTLINE_RATE_LIMIT_PER_TOKEN", "0")
        mp.setenv("DRIFTLINE_AUTH_FAILURES_PER_MINUTE", "0")
        mp.setenv("DRIFTLINE_SALT", "fuzz")
        c = start_collector(f"sqlite:///{workdir / 'driftline.db'}", workdir, config=EXAMPLES / "credit.yaml")
    try:
        rng = np.random.default_rng(13)
        reference(c, rng, n=500)
        status, body = c.post("/v1/records", batch(records(200, time.time() - 7200, rng)))
        assert status == 200, body
        c.evaluate()
        yield c, {kind: make(c) for kind, make in TOKEN_KINDS.items()}
    finally:
        c.stop()


def _strategies(operation: Any) -> list[Any]:
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    out = [operation.as_strategy(generation_mode=mode) for mode in modes]
    known = {p.name: KNOWN[p.name] for p in operation.path_parameters if p.name in KNOWN}
    if known:
        out.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=known))
    return out


def _generate(strategy: Any, each: Callable[[Any], None]) -> None:
    """Run `each` on the strategy's examples: reproducible (derandomized, no example database), no deadline,
    no shrinking (every failure is recorded, none raised)."""

    @settings(
        max_examples=EXAMPLES_PER_STRATEGY,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: Any) -> None:
        each(case)

    with contextlib.suppress(
        Unsatisfiable
    ):  # nothing to make invalid (GET /healthz): the valid run covers it
        exercise()


def _failures(exc: BaseException) -> list[Failure]:
    if isinstance(exc, FailureGroup):
        return [f for f in exc.exceptions if isinstance(f, Failure)]
    return [exc] if isinstance(exc, Failure) else []


def test_every_operation_answers_every_kind_of_token_without_5xx_and_as_documented(
    target: tuple[Collector, dict[str, str | None]], tmp_path: Path
) -> None:
    c, tokens = target
    schema = schemathesis.openapi.from_url(c.url + "/openapi.json")
    sent: Counter[str] = Counter()
    by_status: Counter[tuple[str, int]] = Counter()
    findings: dict[tuple[str, str, int, str], Finding] = {}
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19, [op.label for op in operations]

    def send(label: str, case: Any) -> None:
        """One generated input, sent once with each kind of token; every check that fails is recorded."""
        for kind, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if not token and case.headers:
                case.headers.pop("Authorization", None)
            # sent with requests directly: schemathesis's own call() inspects urllib3's connection pools,
            # which urllib3-future (pulled in by grafana-client's niquests) replaces
            response = session.request(
                **case.as_transport_kwargs(base_url=c.url, headers=headers), timeout=60
            )
            sent[label] += 1
            by_status[kind, response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Failure, FailureGroup) as exc:
                for f in _failures(exc):
                    findings.setdefault(
                        (label, kind, response.status_code, f.title),
                        Finding(
                            label,
                            kind,
                            response.status_code,
                            f"{f.title}: {' '.join(f.message.split())[:300]}",
                            case.as_curl_command(headers={"Authorization": "Bearer <token>"})[:400],
                        ),
                    )

    for operation in operations:
        for strategy in _strategies(operation):
            _generate(strategy, functools.partial(send, operation.label))

    total = sum(sent.values())
    summary = (
        f"{total} requests over {len(sent)} operations; statuses {dict(sorted(by_status.items()))}; "
        f"{len(findings)} finding(s)"
    )
    (tmp_path / "summary.txt").write_text(summary + "\n" + "\n".join(map(str, findings.values())))
    print(summary)
    assert set(sent) == {op.label for op in operations}, summary
    assert total >= MIN_REQUESTS, summary
    assert not findings, summary + "\n" + "\n".join(map(str, findings.values()))
