"""`stackup import`: a stack file from what you run today (`docker run` lines)."""
