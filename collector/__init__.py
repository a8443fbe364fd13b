"""The collector: ingest API, storage, evaluation loop and the read path, as other packages may use it.

Other packages import from here (`from collector import create_app, repository`); the submodules
behind these names are the collector's own business. Storage backends live in `collector.dialects`.
"""

from collector import (
    auth,
    db,
    dialects,
    evaluation,
    event_time,
    migrations,
    reads,
    repository,
    schemas,
    service,
    slos,
)
from collector.app import build_context, create_app
from collector.context import AppContext
from collector.db import make_engine
from collector.migrations import migrate
from collector.schemas import (
    DriftPointOut,
    LabelBatch,
    PerformancePointOut,
    RecordBatch,
    RecordIn,
    ReferenceIn,
    StatsBatch,
)
from collector.service import InputError
from collector.settings import Settings
from collector.slos import slo_reports

__all__ = [
    "AppContext",
    "DriftPointOut",
    "InputError",
    "LabelBatch",
    "PerformancePointOut",
    "RecordBatch",
    "RecordIn",
    "ReferenceIn",
    "Settings",
    "StatsBatch",
    "auth",
    "build_context",
    "create_app",
    "db",
    "dialects",
    "evaluation",
    "event_time",
    "make_engine",
    "migrate",
    "migrations",
    "reads",
    "repository",
    "schemas",
    "service",
    "slo_reports",
    "slos",
]
