# -*- test-case-name: tests.unit.test_client_early -*-
"""
The first acquisition of C{python -m dhcpsuite.client}, made before Twisted
is imported.

Why: importing the reactor costs ~200 ms on a small machine, twice what
udhcpc needs for a whole acquisition, and a host that boots (or a container
that starts) waits for its address that long. The client's state machine is
pure, so this module drives it with a plain C{select} loop over the same
sockets, the same codec and the same configurator requests (blocking, on
rtnetlink) until each interface is bound with its address and routes
applied, or needs something only the reactor does (ARP probing, removing an
address), or the time budget ends. The agents then adopt each machine where
it stands (L{dhcpsuite.client.shell.agent.ClientAgent.adopt}) and carry out what is
left: hooks, the registry, the lease file, and every later timer.

Nothing here may import Twisted (L{dhcpsuite.lazylog} keeps the log events
until it is); C{tests.unit.test_client_early} checks that.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Mapping

from dhcpsuite.client.config import ClientConfig, InterfaceConfig
from dhcpsuite.client.core.lease_calls import lease_calls
from dhcpsuite.client.core.machine import (
    LEASED,
    Action,
    State,
    Configure,
    Deconfigure,
    Notify,
    Probe,
    Send,
    StateChanged,
    TransactionDone,
)
from dhcpsuite.client.driver import MachineDriver
from dhcpsuite.client.system import rawsocket
from dhcpsuite.client.system.boottime import BoottimeClock
from dhcpsuite.client.system.persist import LeaseFile
from dhcpsuite.client.system.sysfs import read_link
from dhcpsuite.client.system.urandom import Urandom
from dhcpsuite.lazylog import LazyLogger
from dhcpsuite.records import evolve

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path imports neither typing nor socket.py
    import socket
    from typing import Any

    from dhcpsuite.client.driver import MachineClock
    from dhcpsuite.client.system.urandom import RandomSource
    from dhcpsuite.netlink.blocking import BlockingConfigurator

log = LazyLogger(__name__)

# Packets read from one socket per wake-up, as the reactor's reader does.
_MAX_READS = 64


class EarlyInterface(MachineDriver):
    """
    An interface on the early path, and at the hand-over.

    Sends, and applies a lease through the blocking configurator; every
    other action waits in C{pending}, in order, for the agent. An action
    only the reactor can carry out (L{Probe}, L{Deconfigure}) ends the early
    path for this interface.

    @ivar pending: the machine's actions the agent still has to carry out,
        in order.
    @ivar done: the early loop stops serving this interface.
    """

    def __init__(self, cfg: InterfaceConfig, mtu: int | None, receive: socket.socket, send: socket.socket,
                 clock: MachineClock, configurator: Callable[[], BlockingConfigurator] | None = None) -> None:
        """
        @param configurator: returns the blocking configurator, opening it
            the first time (L{OnDemand}).
        """
        MachineDriver.__init__(self, cfg.name, clock)
        self.cfg = cfg
        self.mtu = mtu
        self.receive_socket = receive
        self.send_socket = send
        self.configurator = configurator
        self.pending: list[Action] = []
        self.done = False

    @property
    def applied(self) -> Configure | None:
        """
        The L{Configure} among C{pending} whose configurator calls were made
        here, or L{None}.
        """
        return next((a for a in self.pending if isinstance(a, Configure) and a.applied), None)

    def close(self) -> None:
        self.receive_socket.close()
        self.send_socket.close()

    def handlers(self) -> Mapping[type, Callable[[Any], None]]:
        return {
            Send: self.send,
            Configure: self._configure,
            Deconfigure: self._hand_over,
            Probe: self._hand_over,
            Notify: self.pending.append,
            TransactionDone: self.pending.append,
            StateChanged: self.pending.append,
        }

    def feed(self, actions: list[Action]) -> None:
        """
        Carry out what the early path can of C{actions}; keep the rest, in
        order, for the agent.
        """
        for action in actions:
            if self.done:
                self.pending.append(action)
            else:
                self.carry_out(action)
        if self.machine.state in LEASED:
            self.done = True

    def read(self) -> None:
        for _ in range(_MAX_READS):
            if self.done:
                return  # the rest stays queued for the agent
            try:
                data, address = self.receive_socket.recvfrom(65535)
            except BlockingIOError:
                return
            self.frame_received(data, address)

    def _configure(self, action: Configure) -> None:
        if self.cfg.configure and self.configurator is not None:
            self._apply(action)
            action = evolve(action, applied=True)
        self.pending.append(action)

    def _hand_over(self, action: Action) -> None:
        self.pending.append(action)
        self.done = True

    def _apply(self, action: Configure) -> None:
        configurator = self.configurator()
        calls = lease_calls(self.ifname, action.lease, self.clock.monotonic(), self.mtu, self.cfg.route_metric)
        for call in calls:
            try:
                call.apply(configurator)
            except Exception as e:
                # As the agent does: say so, and carry on with the next call.
                log.error("{ifname}: {what} failed: {error}", ifname=self.ifname, what=call.what, error=e)


class OnDemand:
    """
    The blocking configurator, opened when first asked for.

    Why not at once: importing the netlink modules and opening the socket
    (~1 ms) would delay the first DISCOVER, and done after it they would
    delay the REQUEST (dnsmasq offers within 0.2 ms). The loop asks for it
    while a REQUEST waits for its ACK (L{_loop}), when it has nothing else
    to do; an ACK that comes first (rapid commit) opens it when applied.
    """

    def __init__(self, factory: Callable[[], BlockingConfigurator]) -> None:
        self._factory = factory
        self._opened: BlockingConfigurator | None = None

    def __call__(self) -> BlockingConfigurator:
        if self._opened is None:
            self._opened = self._factory()
        return self._opened

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()


# States in which a REQUEST is out and the loop waits for its ACK.
_AWAITING_ACK = frozenset({State.REQUESTING, State.REBOOTING})


def eligible(cfg: InterfaceConfig) -> bool:
    """
    Interfaces the early path serves: not INFORM-only ones (no lease to
    hurry for).
    """
    return cfg.inform is None


def acquire(
    cfg: ClientConfig,
    state_dir: str | None,
    budget: float,
    clock: MachineClock | None = None,
    rng: RandomSource | None = None,
    sysfs: str = "/sys/class/net",
    open_sockets: Callable[[str], tuple[socket.socket, socket.socket]] = rawsocket.open_sockets,
    configurator_factory: Callable[[], BlockingConfigurator] | None = None,
    wait: Callable[[list, float], list] | None = None,
) -> dict[str, EarlyInterface]:
    """
    Start every present interface with carrier, and run their machines
    until each is bound or must be handed over, at most C{budget} seconds.

    @param wait: C{wait(sockets, timeout)} returns the readable ones
        (C{select} by default).
    @return: the started interfaces by name, for
        L{dhcpsuite.client.shell.manager.ClientManager.adopt}. Interfaces not in it
        (absent, no carrier, INFORM, a socket error) start under the reactor
        as usual.
    """
    clock = clock if clock is not None else BoottimeClock()
    rng = rng if rng is not None else Urandom()
    wait = wait if wait is not None else _select
    started = clock.monotonic()
    interfaces: dict[str, EarlyInterface] = {}
    configurator: OnDemand | None = None
    try:
        for interface_cfg in cfg.interfaces:
            if not eligible(interface_cfg):
                continue
            link = read_link(sysfs, interface_cfg.name)
            if link is None or not link.carrier:
                continue
            try:
                receive, send = open_sockets(interface_cfg.name)
            except OSError as e:
                log.warn("{ifname}: early start skipped: {error}", ifname=interface_cfg.name, error=e)
                continue
            interface = EarlyInterface(interface_cfg, link.mtu, receive, send, clock)
            lease_file = LeaseFile(state_dir, interface_cfg.name) if state_dir and interface_cfg.persist else None
            interface.build_machine(interface_cfg, link.mac, link.mtu, rng, lease_file)
            interfaces[interface.ifname] = interface
        if not interfaces:
            return interfaces
        if any(i.configure for i in cfg.interfaces if i.name in interfaces):
            configurator = OnDemand(configurator_factory or _blocking_configurator)
        for interface in interfaces.values():
            interface.configurator = configurator
            interface.feed(interface.machine.start(clock.monotonic(), clock.wall()))
        _loop(interfaces, clock, started + budget, wait, configurator)
    except Exception as e:
        # The reactor path must still start every interface: give up early.
        log.error("early start failed, the reactor starts every interface: {error!r}", error=e)
        for interface in interfaces.values():
            interface.close()
        return {}
    finally:
        if configurator is not None:
            configurator.close()
    for interface in interfaces.values():
        log.info("{ifname}: early start: {state} after {ms:.0f} ms", ifname=interface.ifname,
                 state=interface.machine.state.value, ms=(clock.monotonic() - started) * 1000)
    return interfaces


def _loop(interfaces: dict[str, EarlyInterface], clock: MachineClock, end: float,
          wait: Callable[[list, float], list], configurator: OnDemand | None = None) -> None:
    while True:
        active = [i for i in interfaces.values() if not i.done]
        now = clock.monotonic()
        if not active or now >= end:
            return
        if configurator is not None and any(i.machine.state in _AWAITING_ACK for i in active):
            configurator()  # opened while the server answers; once
            now = clock.monotonic()
        deadlines = [d for d in (i.machine.next_deadline() for i in active) if d is not None]
        timeout = max(0.0, min([end, *deadlines]) - now)
        readable = wait([i.receive_socket for i in active], timeout)
        for interface in active:
            if interface.receive_socket in readable:
                interface.read()
        now = clock.monotonic()
        for interface in active:
            deadline = interface.machine.next_deadline()
            if not interface.done and deadline is not None and deadline <= now:
                interface.feed(interface.machine.tick(now, clock.wall()))


def _blocking_configurator() -> BlockingConfigurator:
    from dhcpsuite.netlink.blocking import BlockingConfigurator

    return BlockingConfigurator()


def _select(sockets: list, timeout: float) -> list:
    return select.select(sockets, [], [], timeout)[0]
