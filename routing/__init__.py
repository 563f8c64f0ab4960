"""The pure routing core: what a policy sees, what it decides, and how a decision is followed.

Shared by the live orchestrator and fleetsim, so the policy that wins in simulation is the very
object that routes live traffic. No I/O, no clocks, no protobuf: drivers keep the `Cluster`
current and hand each `Request` to a `Policy`, which answers with a plan; the `Escalator` follows
it to exactly one `Outcome`.
"""
