"""Desired state: the stack file's typed models, units, labels and the JSON schema."""
