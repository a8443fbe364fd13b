"""Integrations with Python model servers: MLServer (`sdk.integrations.mlserver`) and KServe's `kserve.Model`
(`sdk.integrations.kserve`). Each imports its server only when used, so `import sdk` stays standard-library only."""
