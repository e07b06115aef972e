"""Applying plans on one engine: the executor, preflight, waits, throwaway checks, one-off runs, images, the project lock."""
