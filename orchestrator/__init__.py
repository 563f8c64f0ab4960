"""The orchestrator's gRPC shell: request checks, the agent registry and liveness, the router
that follows a policy's plan over gRPC (policies and escalation live in `routing`), metrics,
and the Python client."""
