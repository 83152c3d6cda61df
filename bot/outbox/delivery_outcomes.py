"""What one delivery's send came to: its outcome, what it changes about the address, and what it says about the
channel. The worker's sends produce these; the pump writes them, in group commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from subscribers import deliveries, readers
from subscribers.schema import AddressStatus, DeliveryStatus

SideEffect = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Health:
    """What a send said about its channel: unreachable (with the reason), or reachable again (``reason=None``,
    only ever from a probe)."""

    channel: str
    reason: str | None
    probe: bool


@dataclass(slots=True)
class Finished:
    """A send that came back, with what to write for it."""

    item: deliveries.ClaimedDelivery
    outcome: deliveries.DeliveryOutcome
    effect: SideEffect | None = None
    health: Health | None = None


def delivery_outcome(
    item: deliveries.ClaimedDelivery,
    status: DeliveryStatus,
    error: str | None = None,
    *,
    provider_id: str | None = None,
    retry_at: datetime | None = None,
    attempted: bool = True,
) -> deliveries.DeliveryOutcome:
    return deliveries.DeliveryOutcome(
        item.id, item.channel, status, error, provider_id=provider_id, retry_at=retry_at, attempted=attempted
    )


def deactivate(item: deliveries.ClaimedDelivery, status: AddressStatus, reason: str) -> SideEffect:
    async def effect(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
        await readers.deactivate_address(conn, item.channel, item.subscriber_id, status, reason, now)

    return effect


def hard_bounce(item: deliveries.ClaimedDelivery, reason: str, limit: int) -> SideEffect:
    async def effect(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
        await readers.record_hard_bounce(conn, item.channel, item.subscriber_id, reason, limit, now)

    return effect


def move(item: deliveries.ClaimedDelivery, new_address: str) -> SideEffect:
    async def effect(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
        assert item.address is not None
        await readers.move_address(conn, item.channel, item.address, new_address, now)

    return effect
