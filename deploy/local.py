"""Launching the stack as local processes: the embedded default of `edgetier up`.

`LocalStack` starts the orchestrator, then each agent (all `python -m edgetier ...` children),
reads the one JSON line each prints when it listens, waits until the orchestrator sees every
node up, and on exit stops every child it started (SIGTERM, then SIGKILL after a grace period).
Children's logs go to files in `log_dir`. The demo, the tests and the benchmarks use it too.

The start-up, the stop and the optional Prometheus are `deploy.stack.Stack`'s, shared with
`deploy.ray_stack.RayStack`; what is local is only how an agent starts: as a child here.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploy.config import AgentConfig
from deploy.processes import Child, LaunchError, first_json_line
from deploy.stack import Stack, agent_args

__all__ = ["Child", "LaunchError", "LocalStack", "agent_args", "first_json_line"]


@dataclass
class LocalStack(Stack):
    """The orchestrator and every agent as local child processes."""

    def _start_agents(self) -> None:
        for agent in self.config.agents:
            self._start_agent(agent)

    def _start_agent(self, agent: AgentConfig) -> None:
        config = self.config
        args = agent_args(
            agent, self.address, config.time_scale, config.host, self.tls, config.catalog
        )
        self._spawn_local(agent.name, "agent", args)

    def restart_agent(self, name: str) -> Child:
        """Kill the agent `name` if it still runs and start it again with the same settings
        (the orchestrator sees it re-register); returns its new child, which dies with the
        calling thread (spawn's `die_with_parent`)."""
        old = next(c for c in self.children if c.kind == "agent" and c.name == name)
        old.kill()
        self.children.remove(old)
        self._start_agent(next(a for a in self.config.agents if a.name == name))
        new = self.children[-1]
        assert isinstance(new, Child)
        return new
