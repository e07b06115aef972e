"""The same stack file deployed as Docker Swarm services."""
