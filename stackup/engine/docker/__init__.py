"""The only code that imports `docker`: the single engine and the swarm primitives."""
