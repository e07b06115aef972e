"""Desired vs observed: the plan (pure data), reconcile, the dependency graph, renderers and reviews."""
