"""SHAP attributions of tree models, and the drift of attributions between a reference and a window.

Prediction attributions split each prediction, in the model's raw output space, into one share per
feature; for a fixed model they move only when the inputs move. Loss attributions split each record's
loss instead, so they also move when a feature's relation to the target changes while its distribution
does not (Lundberg et al. 2020, "From local explanations to global understanding with explainable AI for
trees", Nature Machine Intelligence 2, section "Local explanations ... model monitoring").

shap is imported inside the functions that need it, so ``import analyzers`` stays light. `load_model`
is the one function here that reads a file; everything else is arrays in, frozen results out.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import pickle
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from analyzers._values import spread
from analyzers.correction import Correction, adjust_p_values, get_correction
from analyzers.twosample import Samples, ks_test

__all__ = [
    "DEFAULT_ALERT",
    "DEFAULT_MIN_COUNT",
    "DEFAULT_MIN_EFFECT",
    "AttributionDrift",
    "Attributions",
    "TreeAttributor",
    "attribution_drift",
    "load_model",
    "mean_abs",
    "top_features",
]

#: Corrected p-value below which a feature's attributions count as changed.
DEFAULT_ALERT = 0.01
#: Smallest change that matters, as a share of the reference's total mean |SHAP| over all features. A
#: flipped relation to the target moved its feature's mean loss SHAP by ~0.6 of that total in our tests,
#: the knock-on change in the other features' stayed below 0.06.
DEFAULT_MIN_EFFECT = 0.1
#: Fewer attributions than this on either side of a feature: no verdict.
DEFAULT_MIN_COUNT = 30
#: Background rows kept for interventional SHAP: its cost grows linearly with them; shap's own default.
DEFAULT_MAX_BACKGROUND = 100

_JOBLIB_SUFFIXES = (".joblib", ".jbl")
_PICKLE_SUFFIXES = (".pkl", ".pickle")
_UBJ_INT_WIDTH = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8}

Status = Literal["ok", "drift", "insufficient_data"]
#: What attributions explain: the model's raw output, or each record's loss given its label.
Kind = Literal["prediction", "loss"]


def load_model(path: str | Path, *, sha256: str) -> object:
    """Load a trained model saved with joblib (``.joblib``, ``.jbl``) or pickle (``.pkl``, ``.pickle``).

    Unpickling runs code from the file, so the bytes are read once, and unpickled only when their SHA-256
    is ``sha256`` (the pin in the spec): a file swapped after the spec was written is refused.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _JOBLIB_SUFFIXES + _PICKLE_SUFFIXES:
        raise ValueError(
            f"cannot load a model from {str(p)!r}: unknown extension {suffix or '(none)'!r}; save it with "
            "joblib.dump(model, 'model.joblib') or pickle to a '.pkl' file"
        )
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"cannot load a model from {str(p)!r}: no such file; check the path") from None
    except OSError as exc:
        raise ValueError(f"cannot load a model from {str(p)!r}: {exc.strerror or exc}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise ValueError(
            f"refusing to load the model {str(p)!r}: its SHA-256 is {actual}, the spec pins {sha256}; "
            f"unpickling runs code, so only the pinned file is loaded (if you trust this one, pin sha256: {actual})"
        )
    try:
        if suffix in _JOBLIB_SUFFIXES:
            import joblib  # scikit-learn's own dependency

            return joblib.load(io.BytesIO(data))
        return pickle.loads(data)
    except Exception as exc:
        raise ValueError(
            f"cannot load a model from {str(p)!r} ({type(exc).__name__}: {exc}); install the library the "
            "model was trained with (scikit-learn, xgboost, lightgbm) in a compatible version, or save it again"
        ) from exc


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


class TreeAttributor:
    """Exact (Tree SHAP) attributions of a scikit-learn, XGBoost or LightGBM tree model.

    With ``background`` (reference rows, at most ``max_background`` of them kept, evenly spaced) the
    attributions are interventional: ``base`` is the mean output over the background, so they read as
    "relative to the reference". Without it shap's path-dependent algorithm uses the trees' own training
    cover. ``class_index`` picks the output of a multi-output model (scikit-learn forest classifiers
    output one probability per class); the default is the positive (last) class of a binary classifier.

    Raw output is what `explain` attributes: ``predict_proba`` for scikit-learn forest classifiers, the
    margin (log-odds for binary classifiers) for gradient boosting, the prediction for regressors.
    Features must be numeric columns in ``feature_names`` order: encode categoricals first.
    """

    def __init__(
        self,
        model: object,
        feature_names: Sequence[str],
        *,
        background: Any = None,
        class_index: int | None = None,
        max_background: int = DEFAULT_MAX_BACKGROUND,
    ) -> None:
        names = tuple(str(n) for n in feature_names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"feature_names must be unique and non-empty, got {list(names)}")
        if max_background < 1:
            raise ValueError(f"max_background must be positive, got {max_background}")
        self.model = model
        self.feature_names = names
        self.class_index = class_index
        self.background: np.ndarray | None = None
        if background is not None:
            bg = self._matrix(background)
            if len(bg) > max_background:
                bg = bg[spread(len(bg), max_background)]
            if len(bg) == 0:
                raise ValueError("background has no rows; pass reference rows or None")
            self.background = bg
        self._is_xgboost = type(model).__module__.partition(".")[0] == "xgboost"
        self._prediction: Any = None
        self._loss: Any = None

    def explain(self, X: Any) -> Attributions:
        """Attributions of the raw output for each row of ``X``; ``values.sum(1) + base`` equals it."""
        x = self._matrix(X)
        explainer = self._prediction_explainer()
        with _quiet():
            try:
                values = explainer.shap_values(self._for_shap(x))
            except Exception as exc:
                raise ValueError(f"shap could not explain this {type(self.model).__name__}: {exc}") from exc
        values, base = self._one_output(np.asarray(values, dtype=np.float64), explainer.expected_value)
        return Attributions(values, np.broadcast_to(base, (len(x),)), self.feature_names)

    def explain_loss(self, X: Any, y: Any) -> Attributions:
        """Attributions of each row's loss given its label ``y``: log loss (natural log) for binary
        classifiers, squared error for regressors; ``values.sum(1) + base`` equals that loss.

        Needs ``background``: the base is the mean loss over the background rows, were they labelled
        ``y``, which depends on the label, so it differs by row. shap (0.49) computes loss SHAP only for
        models whose trees output a margin or a value: binary classifiers and squared-error regressors of
        XGBoost, LightGBM and scikit-learn gradient boosting, and scikit-learn forest/extra-trees
        regressors. It has no loss SHAP for multi-class models, for forest classifiers (their trees output
        probabilities) or for other losses; those raise ValueError.
        """
        x = self._matrix(X)
        labels = np.asarray(y).reshape(-1)
        if len(labels) != len(x):
            raise ValueError(f"{len(labels)} labels for {len(x)} rows")
        explainer, loss = self._loss_explainer()
        labels = self._binary_labels(labels) if loss == "binary_crossentropy" else labels.astype(np.float64)
        if not np.isfinite(labels).all():
            raise ValueError("labels must be finite numbers (no NaN or infinity)")
        with _quiet():
            try:
                values = explainer.shap_values(self._for_shap(x), labels)
                raw = self._prediction_explainer().model  # the same trees, without the loss transform
                margins = np.asarray(raw.predict(explainer.data), np.float64)
            except Exception as exc:
                raise ValueError(
                    f"shap could not explain the loss of this {type(self.model).__name__}: {exc}"
                ) from exc
        m = margins.reshape(len(margins), -1)[:, 0]
        if loss == "binary_crossentropy":  # mean over the background of -log p(label)
            base = np.logaddexp(0.0, m).mean() - labels * m.mean()
        else:  # mean over the background of (prediction - label)^2
            base = m.var() + (m.mean() - labels) ** 2
        return Attributions(
            np.asarray(values, dtype=np.float64).reshape(len(x), -1), base, self.feature_names, "loss"
        )

    def _matrix(self, X: Any) -> np.ndarray:
        names = self.feature_names
        if hasattr(X, "columns"):  # a DataFrame: take the model's columns by name, in order
            missing = [n for n in names if n not in X.columns]
            if missing:
                raise ValueError(
                    f"X lacks the features {', '.join(missing)}; the model expects {', '.join(names)}"
                )
            X = X[list(names)]
        try:
            x = np.array(X, dtype=np.float64, ndmin=2)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"features must be numeric ({exc}); encode categorical features first") from None
        if x.ndim != 2 or x.shape[1] != len(names):
            raise ValueError(
                f"X has shape {x.shape}; the model expects {len(names)} columns: {', '.join(names)}"
            )
        return x

    def _for_shap(self, x: np.ndarray) -> np.ndarray:
        # XGBoost compares float32 values with float32 thresholds; casting first makes ties exact.
        return x.astype(np.float32) if self._is_xgboost else x

    def _masker(self, shap: Any) -> Any:
        # Every background row, in order: shap's default masker samples 100 at random.
        assert self.background is not None
        bg = self._for_shap(self.background)
        return shap.maskers.Independent(bg, max_samples=len(bg))

    def _prediction_explainer(self) -> Any:
        if self._prediction is None:
            import shap

            model = _shap_model(self.model)
            with _quiet():
                try:
                    if self.background is None:
                        self._prediction = shap.TreeExplainer(
                            model, feature_perturbation="tree_path_dependent"
                        )
                    else:
                        self._prediction = shap.TreeExplainer(
                            model, data=self._masker(shap), feature_perturbation="interventional"
                        )
                except Exception as exc:
                    name = type(self.model).__name__
                    raise ValueError(f"shap's TreeExplainer cannot read this {name}: {exc}") from exc
        return self._prediction

    def _loss_explainer(self) -> tuple[Any, str]:
        if self.background is None:
            raise ValueError(
                "loss attributions need background rows: TreeAttributor(model, names, background=X_ref)"
            )
        if self._loss is None:
            import shap

            name = type(self.model).__name__
            if name.startswith("HistGradientBoosting"):
                raise ValueError(
                    f"shap 0.49's interventional SHAP does not add up for {name}; use GradientBoosting, "
                    "LightGBM or XGBoost for loss attributions"
                )
            with _quiet():
                try:
                    explainer = shap.TreeExplainer(
                        _shap_model(self.model),
                        data=self._masker(shap),
                        feature_perturbation="interventional",
                        model_output="log_loss",
                    )
                except Exception as exc:
                    raise ValueError(f"shap cannot explain the loss of this {name}: {exc}") from exc
            ensemble = explainer.model
            if ensemble.objective is None:
                ensemble.objective = _sklearn_objective(self.model, ensemble.tree_output)
            if ensemble.num_outputs != 1 or ensemble.tree_output not in ("log_odds", "raw_value"):
                raise ValueError(
                    f"shap has no loss attributions for this {name}: only single-output models whose trees "
                    "output log-odds or values (binary classifiers and regressors of gradient boosting, "
                    "forest regressors); forest classifiers output probabilities"
                )
            if ensemble.objective not in ("binary_crossentropy", "squared_error"):
                raise ValueError(
                    f"shap has no loss attributions for objective {ensemble.objective!r} of this {name}: only "
                    "binary log loss and squared error"
                )
            self._loss = (explainer, ensemble.objective)
        return self._loss

    def _one_output(self, values: np.ndarray, expected: Any) -> tuple[np.ndarray, np.ndarray]:
        """The (n, f) values and the base of the chosen output (shap gives (n, f, outputs) for several)."""
        base = np.asarray(expected, dtype=np.float64).reshape(-1)
        k = values.shape[2] if values.ndim == 3 else 1
        index = self.class_index
        if k == 1:
            classes = getattr(self.model, "classes_", None)
            if index is not None and index not in (1, -1):
                if index == 0 and classes is not None and len(classes) == 2:
                    return -values.reshape(values.shape[0], -1), -base[0]  # log-odds of class 0
                raise ValueError(f"class_index={index}, but the model has a single output")
            return values.reshape(values.shape[0], -1), base[0]
        if index is None:
            if k != 2:
                raise ValueError(f"the model has {k} outputs (one per class); pass class_index= to pick one")
            index = 1
        if not -k <= index < k:
            raise ValueError(f"class_index={index} is out of range for a model with {k} outputs")
        return values[:, :, index], base[index]

    def _binary_labels(self, labels: np.ndarray) -> np.ndarray:
        classes = getattr(self.model, "classes_", None)
        if classes is not None and len(classes) == 2:
            known = np.isin(labels, classes)
            if not known.all():
                bad = labels[~known][0]
                raise ValueError(f"labels must be one of the model's classes {list(classes)}, got {bad!r}")
            return (labels == classes[1]).astype(np.float64)
        out = labels.astype(np.float64)
        if not np.isin(out, (0.0, 1.0)).all():
            raise ValueError("binary labels must be 0 or 1")
        return out


def _sklearn_objective(model: object, tree_output: str | None) -> str | None:
    """The loss shap 0.49 fails to name for scikit-learn >= 1.1 ("log_loss", "squared_error")."""
    loss = getattr(model, "loss", None)
    criterion = getattr(model, "criterion", None)
    classes = getattr(model, "classes_", None)
    if (
        tree_output == "log_odds"
        and loss in ("log_loss", "deviance")
        and classes is not None
        and len(classes) == 2
    ):
        return "binary_crossentropy"
    if tree_output == "raw_value" and (
        loss == "squared_error" or (loss is None and criterion in ("squared_error", "friedman_mse"))
    ):
        return "squared_error"
    return None


def _shap_model(model: Any) -> Any:
    """``model``, or for XGBoost >= 3.1 a copy of its booster that shap 0.49 can read.

    XGBoost 3.1 saves ``base_score`` as a list ("[4.7E-1]") and shap 0.49.1 reads it with ``float()``
    (shap issue 4184, fixed after that release). The copy saves the single value as a plain number.
    """
    if type(model).__module__.partition(".")[0] != "xgboost":
        return model
    import xgboost

    booster = model.get_booster() if hasattr(model, "get_booster") else model
    raw = bytes(booster.save_raw(raw_format="ubj"))
    fixed = _scalar_base_score(raw)
    if fixed is None:
        return model
    ubj = bytearray(fixed)

    class _ScalarBaseScore(xgboost.Booster):
        def save_raw(self, raw_format: str = "ubj") -> bytearray:
            return bytearray(ubj) if raw_format == "ubj" else super().save_raw(raw_format=raw_format)

    copy = booster.copy()
    copy.__class__ = _ScalarBaseScore
    return copy


def _scalar_base_score(raw: bytes) -> bytes | None:
    """The UBJSON model with ``"base_score": "[v]"`` rewritten as ``"v"``; None when it is already a number."""
    key = b"base_scoreS"
    at = raw.find(key)
    if at < 0:
        return None
    marker = at + len(key)
    width = _UBJ_INT_WIDTH.get(raw[marker : marker + 1])
    if width is None:
        return None
    start = marker + 1 + width
    size = int.from_bytes(raw[marker + 1 : start], "big", signed=True)
    text = raw[start : start + size].decode()
    if not text.startswith("["):
        return None
    parts = {p.strip() for p in text.strip("[]").split(",")}
    if len(parts) != 1:
        raise ValueError(
            f"this XGBoost model has one intercept per output ({text}), which shap 0.49 cannot read; "
            "explain a binary classifier or regressor, or upgrade shap (>= 0.50, Python >= 3.12)"
        )
    value = parts.pop().encode()
    return raw[:marker] + b"L" + len(value).to_bytes(8, "big", signed=True) + value + raw[start + size :]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence shap's notices (LightGBM output-format change, background size) around its calls."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"shap(\.|$)")
        yield
