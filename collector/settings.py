"""One typed settings object: flags override `DRIFTLINE_*` environment variables, which override defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sdk.wire import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FUTURE_SKEW_SECONDS


class Settings(BaseSettings):
    """Collector settings; every field can be set as DRIFTLINE_<FIELD> in the environment."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLINE_", extra="ignore")

    database_url: str = Field("sqlite:///driftline.db", description="SQLAlchemy URL of the store.")
    config: str | None = Field(None, description="Path of the spec file (driftline.yaml).")
    host: str = "127.0.0.1"
    port: int = 8650
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, gt=0, description="Largest accepted body, decompressed."
    )
    evaluation_interval: float = Field(60.0, gt=0, description="Seconds between drift evaluations.")
    max_slice_values: int = Field(20, ge=1, description="Label values per slice before folding into `other`.")
    grafana_url: str | None = Field(
        None, description="Grafana to post deploy annotations to (token from GRAFANA_TOKEN)."
    )
    min_label_coverage: float = Field(
        0.5, gt=0, le=1, description="Share of a window's records that must have labels before it counts."
    )
    bootstrap_resamples: int = Field(
        1000, ge=0, description="Bootstrap resamples behind each F1/macro/ROC AUC/ECE interval (0: none)."
    )
    rate_limit_per_token: float = Field(
        50.0,
        ge=0,
        description="Requests per second one API token may make, sustained (0: no limit); then 429.",
    )
    rate_limit_burst: float = Field(500.0, ge=1, description="Requests one API token may make at once.")
    auth_failures_per_minute: float = Field(
        20.0,
        ge=0,
        description="Requests with an invalid token one client address may make per minute (0: no limit); "
        "beyond it the address gets 429 until its allowance refills.",
    )
    max_versions_per_model: int = Field(
        20, ge=1, description="Versions per model exported on /metrics (the most recently active ones)."
    )
    max_slices_per_model: int = Field(
        100,
        ge=1,
        description="Slice values per model exported on /metrics (the first seen); more are counted.",
    )
    salt: str | None = Field(
        None,
        description="HMAC key for pii: true values and hashed record ids, the same DRIFTLINE_SALT the SDKs use "
        "(default: driftline:<model>, the SDK's default, which is public: set a secret in production).",
    )
    salt_file: str | None = Field(None, description="A file holding the salt (a mounted secret); wins over salt.")
    hash_record_ids: bool = Field(
        False, description="Store every record id as its salted hash (labels are hashed alike, so they join)."
    )
    max_future_skew_seconds: float = Field(
        DEFAULT_MAX_FUTURE_SKEW_SECONDS,
        ge=0,
        description="How far ahead of the collector's clock an event time may be (clock skew); later ones, "
        "and any before 2000-01-01, are refused with 422 (sdk/wire.py).",
    )
    lease_seconds: float = Field(
        30.0,
        ge=0,
        description="Period of the lease under which one of several collectors sharing a database runs "
        "evaluation ticks and housekeeping: a holder that stops renewing is replaced within this plus a "
        "third of it (0: no lease, for one collector alone).",
    )
    reload_counters: bool = Field(
        True,
        description="Start the counters on /metrics from the stored totals (one collector: they carry on "
        "across a restart). Off with several collectors: each counts what it ingested since it started.",
    )
