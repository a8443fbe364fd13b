"""`driftline demo`: a real collector on SQLite, a real scikit-learn model served through the SDK,
traffic whose `income` and `debt_ratio` shift part-way, delayed labels, and a printed drift table."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import sessionmaker

from analyzers.performance import BINARY_METRICS
from collector import auth, db, migrations
from contract import LABELS, PREDICTIONS, SDK_DROPPED
from driftline.generate import generate
from driftline.progress import Progress
from sdk import CollectorClient, Monitor
from spec import ResolvedSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
DEMO_SPEC = ROOT / "examples" / "demo.yaml"
SHIFTED = ("income", "debt_ratio")
REGIONS = np.array(["EU", "US", "APAC", "LATAM"])


def make_data(
    rng: np.random.Generator, n: int, shifted: bool = False, start: int = 0
) -> dict[str, np.ndarray]:
    """Synthetic credit applications; `shifted` raises incomes by 60% and debt ratios by 0.25."""
    income = rng.lognormal(np.log(50_000), 0.4, n) * (1.6 if shifted else 1.0)
    debt = np.clip(rng.beta(2, 5, n) + (0.25 if shifted else 0.0), 0, 1)
    cols = {
        "income": income,
        "age": np.clip(rng.normal(41, 12, n), 18, 90),
        "debt_ratio": debt,
        "credit_lines": rng.poisson(4, n).astype(float),
        "region": rng.choice(REGIONS, n, p=[0.4, 0.35, 0.15, 0.1]),
        "email": np.array([f"applicant{start + i}@example.com" for i in range(n)]),
    }
    return cols


def true_default(
    rng: np.random.Generator, cols: dict[str, np.ndarray], concept_shift: bool = False
) -> np.ndarray:
    """Ground truth: defaults grow with debt and shrink with income. After the concept shift, EU applicants
    default far less than the trained relation says (a new lending policy there), so accuracy drops in EU."""
    z = 3.0 * (
        3.0 * cols["debt_ratio"] - 1.2 * np.log(cols["income"] / 50_000) - 0.02 * (cols["age"] - 41) - 1.0
    )
    if concept_shift:
        z = np.where(cols["region"] == "EU", z - 6.0, z)
    return (rng.random(len(z)) < 1 / (1 + np.exp(-z))).astype(int)


def _matrix(cols: dict[str, np.ndarray]) -> np.ndarray:
    onehot = np.stack([cols["region"] == r for r in REGIONS], axis=1).astype(float)
    numeric = np.stack(
        [np.log(cols["income"]), cols["age"], cols["debt_ratio"], cols["credit_lines"]], axis=1
    )
    return np.hstack([numeric, onehot])


def train(rng: np.random.Generator) -> tuple[Any, dict[str, np.ndarray]]:
    """Fit a scikit-learn pipeline on generated data; returns it and its training columns."""
    # scikit-learn is the demo extra (pip install 'driftline[demo]'), not a core dependency
    from sklearn.linear_model import LogisticRegression  # the demo extra
    from sklearn.pipeline import make_pipeline  # the demo extra
    from sklearn.preprocessing import StandardScaler  # the demo extra

    cols = make_data(rng, 20_000)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(_matrix(cols), true_default(rng, cols))
    return model, cols


EXPLAINED = ("income", "age", "debt_ratio", "credit_lines", "region")


def make_explainer(model: Any, background: dict[str, np.ndarray]) -> Any:
    """An SDK explainer (list of feature dicts -> wire attributions) for the demo's pipeline, or None when
    shap is not installed. shap's LinearExplainer explains the log-odds on the scaled columns; the four
    one-hot region columns add up to one `region` attribution (SHAP values are additive)."""
    try:
        import shap  # the demo extra, optional: without it the demo runs and prints no attributions
    except ImportError:
        return None
    scaler, linear = model[0], model[-1]
    explainer = shap.LinearExplainer(linear, scaler.transform(_matrix(background)))
    base = float(np.asarray(explainer.expected_value).reshape(-1)[0])

    def explain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cols = {k: np.array([r[k] for r in rows]) for k in EXPLAINED}
        values = np.asarray(explainer.shap_values(scaler.transform(_matrix(cols))))
        return [
            {
                "base": base,
                "values": {
                    **dict(zip(EXPLAINED[:4], map(float, v[:4]), strict=True)),
                    "region": float(v[4:].sum()),
                },
            }
            for v in values
        ]

    return explain


def print_attribution_table(points: list[dict[str, Any]], before: str, after: str) -> None:
    """Mean |SHAP| per feature before and after the shift, and whether its attributions moved."""
    rows = {(p["window_start"], p["feature"]): p for p in points if p["kind"] == "prediction"}
    features = sorted({f for _, f in rows})
    if not features:
        print("\nNo attributions: install shap (pip install 'driftline[demo]') to see what moved the model.")
        return
    print("\nFeature attributions (mean |SHAP| on the log-odds, SDK-side explainer) against the reference\n")
    print(f"{'feature':<14}{'reference':>10}{'before':>10}{'after':>10}  after the shift")
    for f in features:
        b, a = rows.get((before, f)), rows.get((after, f))
        ref = (a or b or {}).get("reference_mean_abs")

        def num(x: float | None) -> str:
            return f"{x:>10.3f}" if x is not None else f"{'-':>10}"

        status = (a or {}).get("status", "?").upper()
        before_v, after_v = (b or {}).get("mean_abs"), (a or {}).get("mean_abs")
        print(f"{f:<14}{num(ref)}{num(before_v)}{num(after_v)}  {status}")
    moved = sorted(f for f in features if (rows.get((after, f)) or {}).get("status") == "drift")
    print(
        f"Attributions that moved: {', '.join(moved) or 'none'}. A changed relation (EU's) moves loss attributions,"
    )
    print("which need labels and the model in the collector (`explain:` in the spec, tree models).")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DemoCollector:
    """A collector running as its own process, its two tokens and a client that holds them."""

    url: str
    admin: str
    ingest: str
    proc: subprocess.Popen[bytes]
    client: CollectorClient

    def stop(self) -> None:
        """Stop the collector process (killed after ten seconds) and close the client's connections."""
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_collector(out: Path, spec: Path, database_url: str) -> DemoCollector:
    """Create tokens, then run `driftline serve` as its own process and wait until it is ready."""
    engine = db.make_engine(database_url)
    migrations.migrate(engine)
    with sessionmaker(engine).begin() as s:
        admin = auth.create_token(s, scope="admin", name="demo")
        ingest = auth.create_token(s, scope="ingest", name="demo")
    engine.dispose()
    port = _free_port()
    log = (out / "collector.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftline.cli",
            "serve",
            "--config",
            str(spec),
            "--database-url",
            database_url,
            "--port",
            str(port),
            "--evaluation-interval",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    client = CollectorClient.connect(url, ingest, admin, timeout=60)
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"the collector exited; see {out / 'collector.log'}")
        if client.ready():
            return DemoCollector(url, admin, ingest, proc, client)
        time.sleep(0.1)
    client.close()
    proc.kill()
    raise RuntimeError("the collector did not become ready in 30 s")


def serve_traffic(
    monitor: Any, model: Any, duration: float, shift_at: float, rng: np.random.Generator
) -> dict[str, Any]:
    """Serve batches through the SDK for `duration` seconds; inputs shift after `shift_at` seconds."""
    progress = Progress(duration)
    pending_labels: deque[tuple[float, list[str], np.ndarray]] = deque()
    t0 = time.monotonic()
    rows = errors = batch_no = 0
    shift_wall = None
    while (elapsed := time.monotonic() - t0) < duration:
        shifted = elapsed >= shift_at
        if shifted and shift_wall is None:
            shift_wall = time.time()
        n = 64
        cols = make_data(rng, n, shifted=shifted, start=rows)
        ids = [f"req-{rows + i}" for i in range(n)]
        truth = true_default(rng, cols, concept_shift=shifted)
        try:
            logged = cols
            if shifted:  # an upstream logging bug: some credit_lines values arrive as text
                lines = cols["credit_lines"].astype(object)
                lines[rng.random(n) < 0.03] = "n/a"
                logged = {**cols, "credit_lines": lines}
            with monitor.observe(ids=ids, features=logged, slices={"region": cols["region"]}) as obs:
                if rng.random() < 0.005:
                    raise RuntimeError("model backend timed out")  # a failure the availability SLO counts
                scores = model.predict_proba(_matrix(cols))[:, 1]
                obs.predictions((scores >= 0.5).astype(int), scores=scores)
        except RuntimeError:
            errors += n
        pending_labels.append((time.monotonic() + 2.0, ids, truth))  # ground truth arrives two seconds later
        while pending_labels and pending_labels[0][0] <= time.monotonic():
            _, label_ids, label_values = pending_labels.popleft()
            monitor.log_labels(ids=label_ids, labels=label_values)
        rows += n
        batch_no += 1
        progress.update(elapsed, rows, "inputs SHIFTED" if shifted else "inputs as in training")
        time.sleep(0.02)
    for _, label_ids, label_values in pending_labels:
        monitor.log_labels(ids=label_ids, labels=label_values)
    progress.update(duration, rows, "done")
    progress.done()
    return {"rows": rows, "errors": errors, "shift_wall": shift_wall or time.time(), "end_wall": time.time()}


def _window_table(
    points: list[dict[str, Any]], shift_wall: float, end_wall: float
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]], tuple[str, str]]:
    """Pick the last complete window before the shift and the last complete one after it."""

    def ts(s: str) -> float:
        return dt.datetime.fromisoformat(s).timestamp()

    windows = sorted(
        {(p["window_start"], p["window_end"]) for p in points if p["status"] != "insufficient_data"}
    )
    before = [w for w in windows if ts(w[1]) <= shift_wall]
    after = [w for w in windows if ts(w[0]) >= shift_wall and ts(w[1]) <= end_wall]
    w_before = before[-1] if before else windows[0]
    w_after = after[-1] if after else windows[-1]
    pre: dict[str, dict[str, float]] = {}
    post: dict[str, dict[str, Any]] = {}
    for p in points:
        key = (p["window_start"], p["window_end"])
        if key == w_before:
            pre.setdefault(p["feature"], {})[p["metric"]] = p["value"]
        if key == w_after:
            post.setdefault(p["feature"], {})[p["metric"]] = p["value"]
            if p["metric"] == "psi":
                post[p["feature"]]["status"] = p["status"]
                post[p["feature"]]["n"] = p["n_current"]
    return pre, post, (w_before[0], w_after[0])


def print_drift_table(
    pre: dict[str, dict[str, float]], post: dict[str, dict[str, Any]], warn: float, alert: float
) -> None:
    """PSI before and after the shift, KL and JS after, rows and status, per feature."""
    print("\nDrift per feature against the training reference (same quantile bins for PSI, KL and JS;")
    print(f"PSI warns at {warn} and alerts at {alert})\n")
    header = f"{'feature':<14}{'PSI before':>11}  {'PSI after':>10}{'KL after':>10}{'JS after':>10}{'rows':>8}  status"
    print(header)
    print("-" * len(header))
    for feature in sorted(post):
        a = post[feature]
        b = pre.get(feature, {})
        print(
            f"{feature:<14}{b.get('psi', float('nan')):>11.4f}  {a.get('psi', float('nan')):>10.4f}"
            f"{a.get('kl', float('nan')):>10.4f}{a.get('js', float('nan')):>10.4f}{a.get('n', 0):>8}  "
            f"{str(a.get('status', '?')).upper()}"
        )


def print_performance_table(points: list[dict[str, Any]], before: str, after: str) -> None:
    """Realized accuracy per slice with its 95% interval, in the window before the shift and the one after."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for p in points:
        if p["window_start"] in (before, after) and p["metric"] == "accuracy":
            rows.setdefault(p["slice"], {})["before" if p["window_start"] == before else "after"] = p

    def cell(p: dict[str, Any] | None) -> str:
        if not p or p["value"] is None:
            return f"{'no labels':>24}"
        return f"{p['value']:>6.3f} [{p['lower']:.3f}, {p['upper']:.3f}] {p['support']:>5}"

    print("\nRealized accuracy on delayed labels per slice (95% Wilson interval, labelled records)\n")
    print(f"{'slice':<16}{'before the shift':>28}{'after the shift':>28}")
    for name in sorted(rows, key=lambda k: (k != "all", k)):
        print(f"{name:<16}{cell(rows[name].get('before')):>28}{cell(rows[name].get('after')):>28}")
    after_rows = [
        (k, v["after"])
        for k, v in rows.items()
        if k != "all" and v.get("after") and v["after"]["value"] is not None
    ]
    if after_rows:
        worst, p = min(after_rows, key=lambda kv: kv[1]["value"])
        print(f"\nWorst slice after the shift: {worst} at {p['value']:.3f}")


def print_metric_table(points: list[dict[str, Any]], before: str, after: str) -> None:
    """Every classifier metric over the whole window, with its interval, before and after the shift."""
    by = {(p["window_start"], p["metric"]): p for p in points if p["slice"] == "all"}
    print("\nAll metrics on the whole window (Wilson intervals for proportions, bootstrap for the rest)\n")
    print(f"{'metric':<12}{'before the shift':>28}{'after the shift':>28}")
    for metric in BINARY_METRICS:

        def cell(p: dict[str, Any] | None) -> str:
            if not p or p["value"] is None:
                return "-"
            if p["lower"] is None:
                return f"{p['value']:.3f}"
            return f"{p['value']:.3f} [{p['lower']:.3f}, {p['upper']:.3f}]"

        print(f"{metric:<12}{cell(by.get((before, metric))):>28}{cell(by.get((after, metric))):>28}")


def print_estimate_table(points: list[dict[str, Any]], before: str, after: str) -> None:
    """CBPE's estimate (from scores alone, before labels) beside the realized accuracy once labels came."""
    by = {(p["window_start"], p["metric"]): p for p in points if p["slice"] == "all"}
    print("\nAccuracy estimated before labels (CBPE, calibrated on held-out data) vs realized\n")
    print(f"{'window':<22}{'estimated':>28}{'realized':>28}")
    for label, w in (("before the shift", before), ("after the shift", after)):
        est, real = by.get((w, "estimated_accuracy")), by.get((w, "accuracy"))

        def cell(p: dict[str, Any] | None) -> str:
            return (
                "-"
                if not p or p["value"] is None
                else f"{p['value']:.3f} [{p['lower']:.3f}, {p['upper']:.3f}]"
            )

        print(f"{label:<22}{cell(est):>28}{cell(real):>28}")
    print(
        "CBPE assumes the relation between inputs and outcome holds: it follows covariate shift, not a changed"
        "\nrelation (EU's here). That is why realized accuracy on delayed labels is monitored beside it."
    )


def print_quality_table(points: list[dict[str, Any]], before: str, after: str) -> None:
    """Data-quality checks that failed any value, before and after the shift."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for p in points:
        if p["window_start"] in (before, after) and p["total"]:
            side = "before" if p["window_start"] == before else "after"
            rows.setdefault((p["feature"], p["check"]), {})[side] = p["count"] / p["total"]
    failing = {k: v for k, v in rows.items() if any(x > 0 for x in v.values())}
    print("\nData quality (share of values failing each check; feature * = whole records)\n")
    if not failing:
        print("  every check passed in both windows")
        return
    print(f"{'feature':<16}{'check':<20}{'before':>10}{'after':>10}")
    for (feature, check), v in sorted(failing.items()):
        print(f"{feature:<16}{check:<20}{v.get('before', 0):>10.2%}{v.get('after', 0):>10.2%}")


def print_slo_table(slos: list[dict[str, Any]], performance: list[dict[str, Any]]) -> None:
    """Each SLO's objective, budget left and burn rates (or which Prometheus rules compute it)."""
    print(
        "\nSLOs (error budget over the period; burn rate = budget spend speed, 1x lasts exactly the period)\n"
    )
    print(
        f"{'slo':<22}{'objective':>10}{'budget left':>13}{'burn 5m':>9}{'burn 1h':>9}{'burn 6h':>9}  computed by"
    )
    early = []
    for s in slos:
        if s["computed_by"] != "collector":
            print(f"{s['name']:<22}{s['objective']:>9}%{'n/a':>13}{'':>27}  Prometheus rules ({s['sli']}): "
                  f"{_judged_by_prometheus(s, performance)}")  # fmt: skip
            continue
        b = s["burn_rates"]
        left = f"{s['remaining']:>12.1%}" if s.get("budget_ready", True) else f"{'too early':>12}"
        early += [] if s.get("budget_ready", True) else [s["name"]]
        print(
            f"{s['name']:<22}{s['objective']:>9}%{left} {b.get('5m', 0):>7.1f}x"
            f"{b.get('1h', 0):>8.1f}x{b.get('6h', 0):>8.1f}x  collector"
        )
    if early:
        print(
            "Budget left is a share of the whole period's budget: it is shown once events span the fastest\n"
            "alert's long window (1h) and the budget allows one bad event; until then the burn rates are\n"
            f"the signal ({', '.join(early)})."
        )


def _judged_by_prometheus(slo: dict[str, Any], performance: list[dict[str, Any]]) -> str:
    """What the Prometheus rules of a window-gauge SLO read now: the newest window's value against the target."""
    if slo["sli"] != "accuracy" or slo.get("target") is None:
        return "from the exported gauges"
    done = [p for p in performance if p["slice"] == "all" and p["metric"] == "accuracy" and p["value"] is not None]
    if not done:
        return "no labelled window yet"
    newest = max(done, key=lambda p: p["window_start"])
    verdict = "bad" if newest["value"] < slo["target"] else "good"
    return f"newest window's accuracy {newest['value']:.3f} against target {slo['target']:g}: a {verdict} slice"


def print_would_fire(slos: list[dict[str, Any]], drifted: list[str]) -> None:
    """The burn-rate alerts firing now and a drift ticket per feature over the alert threshold."""
    print("\nAlerts that would fire now:")
    lines = [
        f"  {f['severity'].upper():<7} {s['name']}: burning {f['factor']:g}x"
        f" over {f['long_window']}/{f['short_window']}"
        for s in slos
        for f in s.get("firing", [])
    ]
    lines += [f"  TICKET  DriftlineFeatureDriftAlert credit/{f}" for f in drifted]
    print("\n".join(lines) if lines else "  none")


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of a series' samples in Prometheus text that carry every given label value."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _fresh_database(db_path: Path) -> None:
    """Remove the SQLite database and its WAL files, so every run starts empty (at its start; the
    database of the last run stays for `driftline report`)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)


def post_reference(
    client: CollectorClient, model: Any, training: dict[str, np.ndarray], rng: np.random.Generator
) -> Any:
    """Post the training reference with held-out labelled scores (and attributions when shap is there);
    returns the SDK explainer, or None."""
    reference = {k: v[:5000].tolist() for k, v in training.items() if k != "email"}
    # held-out labelled rows calibrate CBPE, which estimates accuracy before any label arrives
    held_out = make_data(rng, 5000)
    held_scores = model.predict_proba(_matrix(held_out))[:, 1]
    explain = make_explainer(model, {k: v[:500] for k, v in training.items()})
    explained = None
    if explain is not None:
        explained = explain(
            [{k: reference[k][i] for k in EXPLAINED} for i in range(len(reference["income"]))]
        )
    client.reference(
        {
            "model": "credit",
            "version": "v1",
            "columns": reference,
            "scores": held_scores.tolist(),
            "labels": true_default(rng, held_out).tolist(),
            "attributions": explained,
        }
    )
    return explain


def read_results(client: CollectorClient) -> dict[str, Any]:
    """Evaluate now, then read every series the summary prints, the SLOs and the /metrics text."""
    client.evaluate()
    reads = {
        kind: client.series("credit", kind) for kind in ("drift", "performance", "quality", "attributions")
    }
    return {**reads, "slos": client.slos(), "metrics": client.metrics()}


def run_traffic(
    c: DemoCollector, model: Any, duration: float, explain: Any, rng: np.random.Generator
) -> dict[str, Any]:
    """Serve `duration` seconds of traffic through an SDK monitor; adds whether every sample was delivered."""
    print(
        f"Serving traffic through the SDK for {duration:.0f} s; income and debt_ratio shift at the half-way mark."
    )
    monitor = Monitor(
        model="credit",
        version="v1",
        collector=c.url,
        token=c.ingest,
        sample_rate=0.5,
        redact=["email"],
        flush_interval=0.5,
        explainer=explain,
    )
    traffic = serve_traffic(monitor, model, duration, duration / 2, rng)
    traffic["delivered"] = monitor.flush(timeout=30)
    monitor.close()
    return traffic


def print_summary(spec: ResolvedSpec, reads: dict[str, Any], traffic: dict[str, Any]) -> list[str]:
    """Every table of the demo; returns the features over the drift alert threshold."""
    drift = spec.model("credit").drift  # type: ignore[union-attr]
    metrics, performance = reads["metrics"], reads["performance"]
    pre, post, (w_before, w_after) = _window_table(reads["drift"], traffic["shift_wall"], traffic["end_wall"])
    ok = _metric(metrics, PREDICTIONS.name, outcome="ok")
    err = _metric(metrics, PREDICTIONS.name, outcome="error")
    print(
        f"\nTraffic: {traffic['rows']:,} predictions served; the SDK counted {ok:,.0f} ok and {err:,.0f} failed"
        f" ({'all delivered' if traffic['delivered'] else 'some still queued'}); "
        f"{_metric(metrics, LABELS.name):,.0f} labels; "
        f"{_metric(metrics, SDK_DROPPED.name):,.0f} samples dropped."
    )
    print(f"Windows compared: {w_before} (before the shift) and {w_after} (after).")
    print_drift_table(pre, post, drift.warn, drift.alert)
    alerting = sorted(f for f, a in post.items() if a.get("status") == "alert")
    print(
        f"\nFeatures over the alert threshold: {', '.join(alerting) or 'none'}"
        f" (shifted on purpose: {', '.join(SHIFTED)})."
    )
    print_performance_table(performance, w_before, w_after)
    print_metric_table(performance, w_before, w_after)
    print_estimate_table(performance, w_before, w_after)
    print_quality_table(reads["quality"], w_before, w_after)
    print_attribution_table(reads["attributions"], w_before, w_after)
    print_slo_table(reads["slos"], performance)
    print_would_fire(reads["slos"], alerting)
    return alerting


def run_demo(out_dir: str = "driftline-out", duration: float = 40.0) -> int:
    """Run the whole demo; returns the process exit code. The collector's database stays in `out_dir`
    (the next run starts it afresh), so the report command printed last works on what the demo stored."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "driftline.yaml"
    shutil.copyfile(DEMO_SPEC, spec_path)
    spec = load_spec(spec_path)
    db_path = out / "demo.db"
    _fresh_database(db_path)

    rng = np.random.default_rng(7)
    print("Training a scikit-learn model on 20,000 generated credit applications ...")
    model, training = train(rng)
    print("Starting a collector (embedded SQLite store) ...")
    c = start_collector(out, spec_path, f"sqlite:///{db_path}")
    try:
        explain = post_reference(c.client, model, training, rng)
        traffic = run_traffic(c, model, duration, explain, rng)
        reads = read_results(c.client)
    finally:
        c.stop()

    (out / "drift.json").write_text(json.dumps(reads["drift"], indent=1))
    (out / "performance.json").write_text(json.dumps(reads["performance"], indent=1))
    (out / "slos.json").write_text(json.dumps(reads["slos"], indent=1))
    generated = generate(spec, out)
    (out / "metrics.txt").write_text(reads["metrics"])
    alerting = print_summary(spec, reads, traffic)
    files = sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and not p.name.startswith("demo.db")
    )
    print(f"\nArtifacts in {out}:\n  " + "\n  ".join(files))
    assert all(p.exists() for p in generated)
    print(f"\nThe collector's database stays in {db_path}. Next, the report of what the demo stored:")
    print("  " + report_command(out, spec_path, db_path))
    return 0 if set(alerting) == set(SHIFTED) else 1


def report_command(out: Path, spec_path: Path, db_path: Path) -> str:
    """The exact `driftline report` command line for the demo's model, database and spec, shell-quoted."""
    args = ["driftline", "report", "--model", "credit", "--config", str(spec_path),
            "--database-url", f"sqlite:///{db_path}", "--out", str(out / "report.html")]  # fmt: skip
    return shlex.join(args)


if __name__ == "__main__":
    sys.exit(run_demo(duration=float(os.environ.get("DEMO_DURATION", "40"))))
