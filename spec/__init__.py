"""The spec file (`driftline.yaml`): what every layer above agrees a model, its drift, SLOs and alerting are.

Other packages import from this facade only: the strict wire model is read and checked by `load_spec`,
and only the frozen `ResolvedSpec` (with its `Model`s) reaches the collector and the generators.
"""

from spec.model import (
    MAX_SPEC_BYTES,
    MODELS_DIR_ENV,
    Drift,
    Feature,
    Model,
    ResolvedSpec,
    SpecError,
    SpecFile,
    load_spec,
    load_spec_text,
    models_folder,
    parse_duration,
    resolve,
    sha256_of,
)

__all__ = [
    "MAX_SPEC_BYTES",
    "MODELS_DIR_ENV",
    "Drift",
    "Feature",
    "Model",
    "ResolvedSpec",
    "SpecError",
    "SpecFile",
    "load_spec",
    "load_spec_text",
    "models_folder",
    "parse_duration",
    "resolve",
    "sha256_of",
]
