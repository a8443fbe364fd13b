"""SHAP attributions as data, and the drift of attributions between a reference and a window.

Arrays in, frozen results out: no shap, no files. `Attributions` is what `TreeAttributor` produces and
what the collector stores as wire records; `attribution_drift` judges each feature by a corrected KS
test and an effect size together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from analyzers.correction import Correction, adjust_p_values, get_correction
from analyzers.twosample import Samples, ks_test

#: Corrected p-value below which a feature's attributions count as changed.
DEFAULT_ALERT = 0.01
#: Smallest change that matters, as a share of the reference's total mean |SHAP| over all features. A
#: flipped relation to the target moved its feature's mean loss SHAP by ~0.6 of that total in our tests,
#: the knock-on change in the other features' stayed below 0.06.
DEFAULT_MIN_EFFECT = 0.1
#: Fewer attributions than this on either side of a feature: no verdict.
DEFAULT_MIN_COUNT = 30
Status = Literal["ok", "drift", "insufficient_data"]
#: What attributions explain: the model's raw output, or each record's loss given its label.
Kind = Literal["prediction", "loss"]


@dataclass(frozen=True, eq=False)
class Attributions:
    """SHAP values of ``n`` records: ``values`` (records x features) plus ``base`` (n), in one output space.

    For each record ``values.sum() + base`` is the explained output: the model's raw output for
    ``kind="prediction"``, the record's loss for ``kind="loss"``. NaN marks a value a stored record did
    not carry (or a base it did not send); the statistics skip NaN.
    """

    values: np.ndarray
    base: np.ndarray
    feature_names: tuple[str, ...]
    kind: Kind = "prediction"

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64, ndmin=2)
        base = np.array(self.base, dtype=np.float64).reshape(-1)
        names = tuple(str(n) for n in self.feature_names)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(
                f"attribution values have shape {values.shape}; expected (records, {len(names)}) for the "
                f"features {', '.join(names)}"
            )
        if values.shape[0] == 0 and base.size == 0:
            base = np.zeros(0)
        if base.shape != (values.shape[0],):
            raise ValueError(f"base has {base.size} entries for {values.shape[0]} records")
        if len(set(names)) != len(names):
            raise ValueError(f"feature names must be unique, got {list(names)}")
        if self.kind not in ("prediction", "loss"):
            raise ValueError(f'kind must be "prediction" or "loss", got {self.kind!r}')
        values.setflags(write=False)
        base.setflags(write=False)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "feature_names", names)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any] | None],
        feature_names: Sequence[str],
        *,
        kind: Kind = "prediction",
    ) -> Attributions:
        """Attributions from stored wire records ``{"base": float | None, "values": {name: float}}``.

        A feature a record does not name (or names with null) is NaN; names outside ``feature_names`` are
        ignored, so records from several encodings can be read with the features they share.
        """
        names = tuple(feature_names)
        index = {n: j for j, n in enumerate(names)}
        rows: list[np.ndarray] = []
        bases: list[float] = []
        for i, rec in enumerate(records):
            row = np.full(len(names), np.nan)
            base = math.nan
            if rec is not None:
                if not isinstance(rec, Mapping) or not isinstance(rec.get("values", {}), Mapping):
                    raise ValueError(
                        f'attributions record {i} must be {{"base": ..., "values": {{name: number}}}}'
                    )
                base = _number(rec.get("base"), f"attributions record {i} base")
                for name, value in rec.get("values", {}).items():
                    j = index.get(name)
                    if j is not None:
                        row[j] = _number(value, f"attributions record {i} feature {name!r}")
            rows.append(row)
            bases.append(base)
        values = np.vstack(rows) if rows else np.zeros((0, len(names)))
        return cls(values, np.array(bases, dtype=np.float64), names, kind)

    def to_records(self) -> list[dict[str, Any]]:
        """One wire record per row: NaN values are left out and a NaN base becomes None."""
        names = self.feature_names
        out = []
        for row, base in zip(self.values.tolist(), self.base.tolist(), strict=True):
            values = {n: v for n, v in zip(names, row, strict=True) if not math.isnan(v)}
            out.append({"base": None if math.isnan(base) else base, "values": values})
        return out


def _number(value: Any, what: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{what} must be a number or null, got {value!r}")
    return float(value)


def mean_abs(att: Attributions) -> dict[str, float]:
    """Mean |SHAP| per feature (its global importance), skipping NaN; NaN for a feature with no values."""
    return {name: _mean(np.abs(col)) for name, col in zip(att.feature_names, att.values.T, strict=True)}


def _finite(col: np.ndarray) -> np.ndarray:
    return col[np.isfinite(col)]


def _mean(col: np.ndarray) -> float:
    col = _finite(col)
    return float(col.mean()) if col.size else math.nan


def top_features(
    values_row: Sequence[float] | np.ndarray, names: Sequence[str], k: int = 3
) -> list[tuple[str, float]]:
    """The ``k`` features with the largest |SHAP| in one record, as (name, signed value); ties by name.

    NaN values (features the record did not carry) are skipped.
    """
    row = np.asarray(values_row, dtype=np.float64).reshape(-1)
    if row.size != len(names):
        raise ValueError(f"{row.size} values for {len(names)} feature names")
    pairs = [(str(n), float(v)) for n, v in zip(names, row.tolist(), strict=True) if not math.isnan(v)]
    pairs.sort(key=lambda p: (-abs(p[1]), p[0]))
    return pairs[: max(0, k)]


@dataclass(frozen=True)
class AttributionDrift:
    """How one feature's attributions in a window compare with the reference's.

    ``effect`` is a change divided by the reference's total mean |SHAP| over all features (a share of the
    whole explanation, comparable across models and output spaces). For prediction attributions the
    change is the larger of those in mean |SHAP| (importance) and in mean SHAP (average push); for loss
    attributions it is the change in mean SHAP, the feature's contribution to the mean loss: when a
    feature stops predicting the target its contribution turns from lowering the loss to raising it,
    while the other features' |loss SHAP| grow with the loss itself and would be flagged too.
    """

    feature: str
    n_reference: int
    n_current: int
    mean_abs_reference: float
    mean_abs_current: float
    mean_reference: float
    mean_current: float
    ks: float  # two-sample KS statistic on the feature's attribution values; nan without a verdict
    p_value: float | None  # the KS test's own p-value
    p_adjusted: float | None  # corrected across the window's features; the status reads it
    correction: str
    effect: float
    status: Status
    alert: float  # the levels the status was judged by
    min_effect: float


def attribution_drift(
    reference: Attributions,
    current: Attributions,
    *,
    min_count: int = DEFAULT_MIN_COUNT,
    correction: Correction | str = Correction.BENJAMINI_HOCHBERG,
    alert: float = DEFAULT_ALERT,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> tuple[AttributionDrift, ...]:
    """Per feature (reference's order, then features only the window has): did its attributions change?

    A feature is "insufficient_data" with fewer than ``min_count`` finite values on either side; else
    "drift" when its KS p-value, corrected across the judged features, is below ``alert`` AND its
    ``effect`` is at least ``min_effect``; else "ok". The test alone would flag trivial changes in large
    windows, the effect alone would flag noise in small ones. Both sides must be of the same kind.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if not 0 < alert < 1 or min_effect < 0:
        raise ValueError(f"alert must be in (0, 1) and min_effect >= 0, got {alert} and {min_effect}")
    if reference.kind != current.kind:
        raise ValueError(f"cannot compare {reference.kind} attributions with {current.kind} attributions")
    method = get_correction(correction)
    loss = reference.kind == "loss"
    names = list(reference.feature_names) + [
        n for n in current.feature_names if n not in reference.feature_names
    ]
    empty = np.zeros(0)
    ref_cols = {n: _finite(c) for n, c in zip(reference.feature_names, reference.values.T, strict=True)}
    cur_cols = {n: _finite(c) for n, c in zip(current.feature_names, current.values.T, strict=True)}
    scale = float(sum(float(np.abs(c).mean()) for c in ref_cols.values() if c.size))

    rows: list[dict[str, Any]] = []
    for name in names:
        r, c = ref_cols.get(name, empty), cur_cols.get(name, empty)
        row: dict[str, Any] = {
            "feature": name,
            "n_reference": int(r.size),
            "n_current": int(c.size),
            "mean_abs_reference": _mean(np.abs(r)),
            "mean_abs_current": _mean(np.abs(c)),
            "mean_reference": _mean(r),
            "mean_current": _mean(c),
            "ks": math.nan,
            "p_value": None,
            "effect": math.nan,
        }
        if r.size >= min_count and c.size >= min_count:
            score = ks_test(Samples(r, c))
            change = abs(row["mean_current"] - row["mean_reference"])
            if not loss:
                change = max(change, abs(row["mean_abs_current"] - row["mean_abs_reference"]))
            row["ks"], row["p_value"] = score.value, score.p_value
            row["effect"] = change / scale if scale > 0 else (0.0 if change == 0 else math.inf)
        rows.append(row)

    judged = [i for i, row in enumerate(rows) if row["p_value"] is not None]
    adjusted = adjust_p_values([rows[i]["p_value"] for i in judged], method).tolist()
    p_adjusted: dict[int, float] = dict(zip(judged, adjusted, strict=True))
    out = []
    for i, row in enumerate(rows):
        p = p_adjusted.get(i)
        status: Status
        if p is None:
            status = "insufficient_data"
        elif p < alert and row["effect"] >= min_effect:
            status = "drift"
        else:
            status = "ok"
        out.append(
            AttributionDrift(
                **row,
                p_adjusted=p,
                correction=method.value,
                status=status,
                alert=alert,
                min_effect=min_effect,
            )
        )
    return tuple(out)
