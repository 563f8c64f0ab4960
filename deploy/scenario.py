"""A scenario's fleet as a live stack: what `edgetier up --scenario FILE` starts.

A scenario's topology entries are node groups (routing.groups.NodeGroup), and so is a stack's
agent: each group becomes one agent named like the group, so its nodes are `<group>-<i>`, the
ids fleetsim gives them, and a request's origin device in the scenario is a live device node.
The scenario's `network:` overrides become the orchestrator's links, and its policies are all
loaded (the first one the default), so that `edgetier load --policy P` may name any of them.

What does not carry over: `events` (outages) are fleetsim's; live, an outage is something you
do to a process (`tests/test_faults.py`). `scenario_stack` reports them in `not_live`.
"""

from __future__ import annotations

from deploy.config import AgentConfig, OrchestratorConfig, StackConfig
from fleetsim.scenario import Scenario

#: The least real time an attempt gets before the router gives up on it, whatever the time
#: scale: below this, gRPC and scheduling jitter on a loaded machine, not the modelled node,
#: would decide what times out.
MIN_ATTEMPT_FLOOR_S = 0.5


def scenario_stack(scenario: Scenario, time_scale: float = 1.0) -> StackConfig:
    """The stack that runs `scenario` live at `time_scale` real seconds per modelled second."""
    default, *others = scenario.policies
    return StackConfig(
        agents=[AgentConfig(**vars(group), name=name) for name, group in scenario.topology.items()],
        orchestrator=OrchestratorConfig(
            policy=default,
            policies=others,
            seed=scenario.seed,
            attempt_floor_s=attempt_floor_s(scenario, time_scale),
        ),
        time_scale=time_scale,
        network=dict(scenario.network),
        catalog=list(scenario.catalog),
    )


def attempt_floor_s(scenario: Scenario, time_scale: float) -> float:
    """The orchestrator's attempt floor (real seconds) for the scenario's `attempt_floor_s`
    (modelled seconds, as fleetsim counts it): scaled like every other time, but never below
    MIN_ATTEMPT_FLOOR_S."""
    return max(scenario.attempt_floor_s * time_scale, MIN_ATTEMPT_FLOOR_S)


def not_live(scenario: Scenario) -> list[str]:
    """What of `scenario` the live stack does not play, as sentences (empty: everything)."""
    if not scenario.events:
        return []
    return [
        f"its {len(scenario.events)} events (outages) are not played live: fleetsim models "
        "them, a live stack would need its processes stopped"
    ]
