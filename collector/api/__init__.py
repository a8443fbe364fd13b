"""One router per resource, all under /v1 (plus /metrics and health probes)."""
