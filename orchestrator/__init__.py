"""The cloud orchestrator: registry, liveness, routing policies, escalation, metrics."""
