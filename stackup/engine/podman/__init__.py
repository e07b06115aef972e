"""Podman through its Docker-compatible API: `engine.PodmanEngine`."""
