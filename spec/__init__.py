"""The spec file (`driftline.yaml`): what every layer above agrees a model, its drift, SLOs and alerting are.

Other packages import from this facade only: the strict wire model is read and checked by `load_spec`,
and only the frozen `ResolvedSpec` (with its `Model`s) reaches the collector and the generators.

Modules, one job each: `fields` (shared field rules, durations), `drift` (the drift section, checked
against `analyzers.registry`), `slos` (the SLO section), `document` (the whole wire model), `resolved`
(the frozen model and `resolve`), `parsing` (bounded YAML with line numbers), `messages` (validation
errors as lines), `files` (explain model files and their pins), `loading` (the load functions), `errors`
(`SpecError`), `alerting` (the alerting block).
"""

from spec.alerting import Alerting, MuteWindow, Receiver
from spec.document import MODELS_DIR_ENV, SpecFile
from spec.errors import SpecError
from spec.fields import parse_duration
from spec.files import models_folder, sha256_of
from spec.loading import MAX_SPEC_BYTES, load_spec, load_spec_text
from spec.resolved import DEFAULT_DRIFT, Drift, Feature, Model, ResolvedSpec, resolve

__all__ = [
    "DEFAULT_DRIFT",
    "MAX_SPEC_BYTES",
    "MODELS_DIR_ENV",
    "Alerting",
    "Drift",
    "Feature",
    "Model",
    "MuteWindow",
    "Receiver",
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
