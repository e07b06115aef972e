"""watch mode: file events to validated reloads and re-planned applies."""
