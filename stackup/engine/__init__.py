"""The engine interface, the observed snapshot, the in-memory fake and the Docker implementation."""
