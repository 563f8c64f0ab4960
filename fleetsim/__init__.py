"""fleetsim: policy experiments on offloading, at fleet scale, in virtual time.

A scenario (fleetsim.scenario) and a workload (fleetsim.workload) go into the discrete-event
driver (fleetsim.simulator), which runs the live platform's own policies, Escalator, network
model and node engines; outcomes stream out as records (fleetsim.records) into summaries
(fleetsim.summary) beside an energy lower bound (fleetsim.bound) and an offline feasible
schedule (fleetsim.schedule), plots (fleetsim.plots) and
parameter sweeps (fleetsim.sweep). `fleetsim.runner.run_scenario` ties them together; the
command line is `edgetier sim` (edgetier/cli/sim.py); the README has a worked example.
"""
