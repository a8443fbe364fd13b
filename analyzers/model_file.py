"""Loading a trained model file for explaining: joblib or pickle, and only the bytes the spec pinned.

The one function in `analyzers` that reads a file. Unpickling runs code, so the bytes are read once and
unpickled only when their SHA-256 matches the pin.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

_JOBLIB_SUFFIXES = (".joblib", ".jbl")
_PICKLE_SUFFIXES = (".pkl", ".pickle")


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
            import joblib  # the explain extra (scikit-learn's own dependency): only when a .joblib file is loaded

            return joblib.load(io.BytesIO(data))
        return pickle.loads(data)
    except Exception as exc:
        raise ValueError(
            f"cannot load a model from {str(p)!r} ({type(exc).__name__}: {exc}); install the library the "
            "model was trained with (scikit-learn, xgboost, lightgbm) in a compatible version, or save it again"
        ) from exc
