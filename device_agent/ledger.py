"""Idempotency: request ids this agent has accepted, so a retry is answered, never run twice.

The router retries on timeouts and transport errors, and a retry of a request the agent already
accepted must not burn a second run's energy or queue slot. The ledger maps request id -> the
first run's ticket: a concurrent duplicate awaits the same future, a late one gets the stored
result. It is a bounded LRU (old ids are forgotten first), so memory stays flat under any load;
only accepted requests are recorded, so a retry after a rejection (queue full) does run.
"""

from __future__ import annotations

from collections import OrderedDict

from device_agent.node_driver import Ticket


class Ledger:
    """Bounded LRU of request id -> Ticket. Not thread-safe: used on the event loop only."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._tickets: OrderedDict[str, Ticket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tickets)

    def get(self, request_id: str) -> Ticket | None:
        """The ticket of an accepted request id (refreshing its recency), or None."""
        ticket = self._tickets.get(request_id)
        if ticket is not None:
            self._tickets.move_to_end(request_id)
        return ticket

    def record(self, ticket: Ticket) -> None:
        """Remember an accepted request; forgets the least recently used id when full."""
        if not ticket.request_id:
            return  # no key, no dedupe
        self._tickets[ticket.request_id] = ticket
        self._tickets.move_to_end(ticket.request_id)
        while len(self._tickets) > self.capacity:
            self._tickets.popitem(last=False)
