"""Plumbing shared by every layer: atomic file writes, tables, CLI argument helpers, lazy
imports, output pre-flight checks and the one progress factory. Nothing here knows about arrays,
scenarios or preferences (the import-layering test keeps it that way)."""
