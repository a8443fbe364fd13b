"""Cost of SHAP per evaluation window: what the collector's worker spends explaining a window's records.

For a window of sampled records (500 and 2,000 rows, 10 numeric features) and tree models of 100 trees:
prediction attributions (interventional, 100 reference rows as background, as the collector runs them),
loss attributions on the same rows with labels, and the attribution-drift test against a 2,000-row
reference. Baseline, measured in the same run: the model's own predict_proba on the same rows.
Run: `.venv/bin/python bench/bench_explain.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    import lightgbm
    from sklearn.ensemble import GradientBoostingClassifier

    from analyzers.explain import TreeAttributor, attribution_drift

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 10))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(0, 0.5, len(x)) > 0).astype(int)
    models = {
        "sklearn GBM": GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(
            x[:5000], y[:5000]
        ),
        "LightGBM": lightgbm.LGBMClassifier(n_estimators=100, num_leaves=15, verbose=-1).fit(x, y),
    }
    names = [f"x{i}" for i in range(10)]
    print(
        f"{'model':<12} {'rows':>5} {'predict s':>10} {'SHAP s':>8} {'x':>6} "
        f"{'loss SHAP s':>12} {'x':>6} {'drift s':>8}"
    )
    for label, model in models.items():
        att = TreeAttributor(model, names, background=x[:100])
        reference = att.explain(x[-2000:])
        for n in (500, 2000):
            rows, labels = x[5000 : 5000 + n], y[5000 : 5000 + n]
            t_pred = best_of(lambda m=model, r=rows: m.predict_proba(r))
            t_shap = best_of(lambda a=att, r=rows: a.explain(r))
            t_loss = best_of(lambda a=att, r=rows, t=labels: a.explain_loss(r, t), repeat=1)
            current = att.explain(rows)
            t_drift = best_of(lambda ref=reference, c=current: attribution_drift(ref, c))
            print(
                f"{label:<12} {n:>5} {t_pred:>10.4f} {t_shap:>8.3f} {t_shap / t_pred:>6.0f} "
                f"{t_loss:>12.3f} {t_loss / t_pred:>6.0f} {t_drift:>8.4f}"
            )


if __name__ == "__main__":
    main()
