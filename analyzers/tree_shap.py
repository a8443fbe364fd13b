"""Exact Tree SHAP attributions of scikit-learn, XGBoost and LightGBM tree models, through shap.

shap (the explain extra) is imported inside the methods that need it, so ``import analyzers`` stays
light; the workarounds for shap 0.49's gaps (scikit-learn loss names, XGBoost >= 3.1 base scores) live
beside the class.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from analyzers._values import spread
from analyzers.attributions import Attributions

#: Background rows kept for interventional SHAP: its cost grows linearly with them; shap's own default.
DEFAULT_MAX_BACKGROUND = 100

_UBJ_INT_WIDTH = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8}


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
            import shap  # the explain extra: heavy, optional

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
            import shap  # the explain extra: heavy, optional

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
    import xgboost  # only for an XGBoost model, which brought xgboost with it

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
