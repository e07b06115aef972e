"""Where a plan is carried out: one engine (`targets.engine`) or a swarm (`targets.swarm`)."""
