# -*- test-case-name: tests.unit.test_client_timing -*-
"""
The client's time arithmetic, as pure functions over an injectable
L{Schedule}: retransmission backoff (RFC 2131 section 4.1), the RENEWING and
REBINDING resend rule (section 4.4.5) and T1/T2 sanitising.
"""

from __future__ import annotations

from dhcpsuite.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from dhcpsuite.client.system.urandom import RandomSource

# Option 51 value meaning "forever" (RFC 2131 section 3.3).
INFINITE = 0xFFFFFFFF


class Schedule(Record):
    """
    Every timing constant of the client, as data so tests and configuration
    can replace it.

    @ivar initial_delay: the first DISCOVER (or INIT-REBOOT REQUEST) waits a
        random time in C{[0, initial_delay]} (RFC 2131 section 4.4.1 suggests
        1 to 10 s; a small default keeps boot fast on a point-to-point link).
    @ivar delays: the retransmission delays, the last one repeated.
    @ivar fuzz: each delay is moved by a random amount in C{[-fuzz, +fuzz]}.
    @ivar offer_window: after the first OFFER, how long to wait for more
        (0: take the first one).
    @ivar request_attempts: REQUESTs sent in REQUESTING before going back to
        INIT.
    @ivar reboot_attempts: REQUESTs sent in REBOOTING before giving up on the
        remembered lease.
    @ivar reboot_divisor: REBOOTING resends faster (systemd uses a quarter).
    @ivar renew_minimum: RENEWING/REBINDING resend no sooner than this.
    @ivar decline_delay: after a DECLINE, wait this long before INIT
        (RFC 2131 section 3.1 step 5: at least 10 s).
    @ivar restart_delays: after a NAK or a failed REQUEST, wait this long
        (indexed by how many restarts in a row, last one repeated), so a
        misbehaving server cannot make us loop at wire speed.
    @ivar leasefail_after: DISCOVERs unanswered before the C{LEASEFAIL} event.
    @ivar minimum_lease: a shorter lease time (0 included) is used as this
        long: a server that hands out zero-second leases gets one bind and a
        renewal every C{minimum_lease / 2} s, not a DISCOVER/REQUEST loop at
        wire speed.
    @ivar minimum_t1: a T1 (or T2) from the server sooner than this is
        replaced by the RFC default.
    """

    initial_delay: float = 0.05
    delays: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0, 64.0)
    fuzz: float = 1.0
    offer_window: float = 0.0
    request_attempts: int = 4
    reboot_attempts: int = 3
    reboot_divisor: float = 4.0
    renew_minimum: float = 60.0
    decline_delay: float = 10.0
    restart_delays: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
    leasefail_after: int = 3
    minimum_lease: float = 60.0
    minimum_t1: float = 2.0


def retransmit_delay(schedule: Schedule, attempt: int, rng: RandomSource, divisor: float = 1.0) -> float:
    """
    Delay before retransmission number C{attempt + 1} (C{attempt} counts
    from 0): 4, 8, 16, 32, 64, 64... s, each +-C{fuzz}, never negative.
    """
    base = schedule.delays[min(attempt, len(schedule.delays) - 1)] / divisor
    fuzz = schedule.fuzz / divisor
    return max(0.0, base + rng.uniform(-fuzz, fuzz))


def renew_resend_delay(schedule: Schedule, now: float, deadline: float) -> float:
    """
    RFC 2131 section 4.4.5: in RENEWING wait half the time left until T2, in
    REBINDING half the time left until expiry, but at least
    C{renew_minimum}.
    """
    return max((deadline - now) / 2.0, schedule.renew_minimum)


def restart_delay(schedule: Schedule, restarts: int) -> float:
    return schedule.restart_delays[min(restarts, len(schedule.restart_delays) - 1)]


def sanitise_times(
    lease_time: float | None, t1: int | None, t2: int | None, minimum_t1: float = 0.0,
) -> tuple[float | None, float | None]:
    """
    T1 and T2 (seconds after the lease was obtained) from the server's
    options 58 and 59.

    Kept when C{minimum_t1 <= T1 < T2 < lease} (and C{0 < T1}); a lone valid
    one is kept with the default for the other; anything else becomes 0.5
    and 0.875 of the lease (RFC 2131 section 4.4.5). An infinite lease has
    neither.
    """
    if lease_time is None or lease_time >= INFINITE:
        return None, None
    lease = float(lease_time)
    default_t1, default_t2 = lease * 0.5, lease * 0.875
    good_t1 = t1 is not None and max(0, minimum_t1) <= t1 < lease and t1 > 0
    good_t2 = t2 is not None and max(0, minimum_t1) < t2 < lease
    if good_t1 and good_t2 and t1 < t2:
        return float(t1), float(t2)
    if good_t1 and not good_t2 and t1 < default_t2:
        return float(t1), default_t2
    if good_t2 and not good_t1 and default_t1 < t2:
        return default_t1, float(t2)
    return default_t1, default_t2
