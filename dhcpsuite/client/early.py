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

import random
import select
from typing import Any, Callable

import attrs

from dhcpsuite.client.system import rawsocket
from dhcpsuite.client.system.boottime import BoottimeClock
from dhcpsuite.client.config import ClientConfig, InterfaceConfig
from dhcpsuite.client.core.lease_calls import lease_calls
from dhcpsuite.client.core.machine import (
    LEASED,
    ClientMachine,
    Configure,
    Notify,
    Send,
    StateChanged,
    TransactionDone,
)
from dhcpsuite.client.system.persist import LeaseFile
from dhcpsuite.client.system.sysfs import read_link
from dhcpsuite.lazylog import LazyLogger

log = LazyLogger(__name__)

# Actions that can wait in order for the agent; any other (Probe, Deconfigure)
# needs the reactor at once, so the interface is handed over there.
_DEFERRABLE = (StateChanged, Notify, TransactionDone)
# Packets read from one socket per wake-up, as the reactor's reader does.
_MAX_READS = 64


@attrs.define(eq=False)
class EarlyInterface:
    """
    An interface at the hand-over.

    @ivar pending: the machine's actions the agent still has to carry out,
        in order.
    @ivar applied: the L{Configure} among C{pending} whose configurator calls
        were made here, or L{None}.
    @ivar done: the early loop stops serving this interface.
    """

    ifname: str
    mtu: int | None
    machine: ClientMachine
    receive: Any
    send: Any
    pending: list = attrs.Factory(list)
    applied: Configure | None = None
    done: bool = False
    sent: int = 0
    drops: dict[str, int] = attrs.Factory(dict)

    def close(self) -> None:
        self.receive.close()
        self.send.close()


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
    clock: Any = None,
    rng: random.Random | None = None,
    sysfs: str = "/sys/class/net",
    open_sockets: Callable[[str], tuple[Any, Any]] = rawsocket.open_sockets,
    configurator_factory: Callable[[], Any] | None = None,
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
    rng = rng if rng is not None else random.SystemRandom()
    wait = wait if wait is not None else _select
    started = clock.monotonic()
    interfaces: dict[str, EarlyInterface] = {}
    configurator = None
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
            now, wall = clock.monotonic(), clock.wall()
            lease_file = LeaseFile(state_dir, interface_cfg.name) if state_dir and interface_cfg.persist else None
            remembered = lease_file.load(now, wall) if lease_file is not None else None
            machine = interface_cfg.new_machine(link.mac, link.mtu, rng, remembered)
            interface = EarlyInterface(interface_cfg.name, link.mtu, machine, receive, send)
            interfaces[interface.ifname] = interface
        if not interfaces:
            return interfaces
        if any(i.configure for i in cfg.interfaces if i.name in interfaces):
            configurator = (configurator_factory or _blocking_configurator)()
        for interface in interfaces.values():
            _run(interface, cfg.interface(interface.ifname), configurator, clock,
                 interface.machine.start(clock.monotonic(), clock.wall()))
        _loop(interfaces, cfg, configurator, clock, started + budget, wait)
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


def _loop(interfaces: dict[str, EarlyInterface], cfg: ClientConfig, configurator: Any, clock: Any,
          end: float, wait: Callable[[list, float], list]) -> None:
    while True:
        active = [i for i in interfaces.values() if not i.done]
        now = clock.monotonic()
        if not active or now >= end:
            return
        deadlines = [d for d in (i.machine.next_deadline() for i in active) if d is not None]
        timeout = max(0.0, min([end, *deadlines]) - now)
        readable = wait([i.receive for i in active], timeout)
        for interface in active:
            if interface.receive in readable:
                _read(interface, cfg.interface(interface.ifname), configurator, clock)
        now = clock.monotonic()
        for interface in active:
            deadline = interface.machine.next_deadline()
            if not interface.done and deadline is not None and deadline <= now:
                _run(interface, cfg.interface(interface.ifname), configurator, clock,
                     interface.machine.tick(now, clock.wall()))


def _read(interface: EarlyInterface, cfg: InterfaceConfig, configurator: Any, clock: Any) -> None:
    for _ in range(_MAX_READS):
        if interface.done:
            return  # the rest stays queued for the agent
        try:
            data, address = interface.receive.recvfrom(65535)
        except BlockingIOError:
            return
        message, drop, source = rawsocket.decode_reply(data, address)
        if message is None:
            if drop is not None:
                interface.drops[drop] = interface.drops.get(drop, 0) + 1
            continue
        _run(interface, cfg, configurator, clock, interface.machine.receive(message, clock.monotonic(), clock.wall(), source))


def _run(interface: EarlyInterface, cfg: InterfaceConfig, configurator: Any, clock: Any, actions: list) -> None:
    """
    Carry out what the early path can of C{actions}; keep the rest, in
    order, for the agent.
    """
    for action in actions:
        if interface.done:
            interface.pending.append(action)
        elif isinstance(action, Send):
            try:
                rawsocket.send_message(interface.send, action.message, action.server, interface.receive)
                interface.sent += 1
            except OSError as e:
                log.warn("{ifname}: send failed: {error}", ifname=interface.ifname, error=e)
        elif isinstance(action, Configure):
            if cfg.configure and configurator is not None:
                _apply(interface, cfg, configurator, clock, action)
                interface.applied = action
            interface.pending.append(action)
        else:
            interface.pending.append(action)
            interface.done = not isinstance(action, _DEFERRABLE)
    if interface.machine.state in LEASED:
        interface.done = True


def _apply(interface: EarlyInterface, cfg: InterfaceConfig, configurator: Any, clock: Any, action: Configure) -> None:
    for call in lease_calls(interface.ifname, action.lease, clock.monotonic(), interface.mtu, cfg.route_metric):
        try:
            call.apply(configurator)
        except Exception as e:
            # As the agent does: say so, and carry on with the next call.
            log.error("{ifname}: {what} failed: {error}", ifname=interface.ifname, what=call.what, error=e)


def _blocking_configurator() -> Any:
    from dhcpsuite.netlink.blocking import BlockingConfigurator

    return BlockingConfigurator()


def _select(sockets: list, timeout: float) -> list:
    return select.select(sockets, [], [], timeout)[0]
