"""Per-token streaming of an accepted request, from an engine that only reports the first token
and the end.

The engine simulates a decode epoch as one event (that is what keeps a long generation cheap to
simulate), so the tokens in between are paced here: after the first token, one every batch-1
decode step of the model (`Costs.decode_step(1, context)`, the fastest the node could produce
them), turned into real waits by the node's time scale. Pacing never runs past the request's
end: the last token is held back until the Finished event, and whatever is left when Finished
arrives (batching or a prefill of another request made the node slower than batch 1) is flushed
at once, with times spread evenly up to the end. So a client sees exactly `output_tokens`
tokens, in order, with non-decreasing times, the last one at `latency_s`, then the summary.

A vision model produces no tokens: only the summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from device_agent.node_driver import NodeDriver, RunResult, Ticket
from npu_sim.models import LLM


@dataclass(frozen=True, slots=True)
class TokenOut:
    """One generated token: its 0-based index and modelled seconds since acceptance."""

    index: int
    time_s: float


async def stream_run(driver: NodeDriver, ticket: Ticket) -> AsyncIterator[TokenOut | RunResult]:
    """The tokens of `ticket`'s request as they are produced, then its RunResult.

    Cancelling the consumer does not cancel the request (the futures are shielded): it was
    accepted, so it runs to completion on the node.
    """
    costs = driver.engine.costs(ticket.job.model)
    if costs is None or not isinstance(costs.model, LLM):
        yield await asyncio.shield(ticket.done)
        return
    first = await asyncio.shield(ticket.first_token)
    yield TokenOut(0, first)
    emitted, last = 1, first
    paced = first
    total = ticket.job.output_tokens
    loop = asyncio.get_running_loop()
    # Pace all but the last token; with time_scale 0 there is no time to pace on.
    while driver.time_scale > 0 and emitted < total - 1 and not ticket.done.done():
        paced += costs.decode_step(1, ticket.job.prompt_tokens + emitted).seconds
        delay = driver.loop_time(ticket.submitted_at + paced) - loop.time()
        if delay > 0:
            await asyncio.wait([ticket.done], timeout=delay)
        driver.sync()  # deliver a Finished that is due, so no token is dated after the end
        if ticket.done.done():
            break
        # Never later than the node's clock, which has not reached the end yet.
        last = max(last, min(paced, driver.now() - ticket.submitted_at))
        yield TokenOut(emitted, last)
        emitted += 1
    result = await asyncio.shield(ticket.done)
    remaining = result.output_tokens - emitted
    for k in range(1, remaining + 1):
        time_s = last + (result.latency_s - last) * k / remaining
        yield TokenOut(emitted + k - 1, max(last, time_s))
    yield result
