"""Stack files read as Compose reads them: YAML with marks, interpolation, .env, merge, normalisation and validation."""
