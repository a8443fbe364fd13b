"""Dialect-specific SQL, one module per database: everything else stays portable."""
