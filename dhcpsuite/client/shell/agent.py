# -*- test-case-name: tests.unit.test_client_agent -*-
"""
One interface's client agent: the Twisted shell around L{ClientMachine}.

It turns socket reads, timer expiries, carrier changes and control requests
into machine inputs, and the machine's actions into packets, configurator
calls, hook runs, registry writes and the persisted lease. Deadlines are kept
on C{CLOCK_BOOTTIME} (L{dhcpsuite.client.system.boottime}).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from dhcpsuite.client.config import InterfaceConfig
from dhcpsuite.client.core.lease import Lease
from dhcpsuite.client.core.lease_calls import lease_calls
from dhcpsuite.client.core.machine import (
    Action,
    Configure,
    Deconfigure,
    Event,
    Notify,
    Outcome,
    Probe,
    Send,
    State,
    StateChanged,
    TransactionDone,
)
from dhcpsuite.client.driver import MachineDriver
from dhcpsuite.client.shell.arp import ArpProber
from dhcpsuite.client.shell.deadline_timers import BoottimeTimer, ReactorTimer, SystemClock, make_timer
from dhcpsuite.client.shell.hooks import HookRunner, hook_environment, udhcpc_actions
from dhcpsuite.client.shell.reader import SocketReader
from dhcpsuite.client.system import rawsocket
from dhcpsuite.client.system.persist import LeaseFile
from dhcpsuite.dhcp4.packet import Message
from dhcpsuite.interfaces import IClock, IInterfaceConfigurator
from dhcpsuite.leases.registry import FAMILY_V4, LeaseRegistry

if TYPE_CHECKING:
    from dhcpsuite.client.early import EarlyInterface


def _deconfig_environment(env: dict[str, str]) -> dict[str, str]:
    return {key: env[key] for key in ("interface", "reason", "DHCPSUITE_EVENT")}


class ClientAgent(MachineDriver):
    """
    @ivar machine: the L{ClientMachine} (after L{start}).
    @ivar drops: packets dropped before the machine, by reason.
    @ivar observers: callables told of every L{StateChanged}.
    """

    log = Logger()

    def __init__(
        self,
        cfg: InterfaceConfig,
        reactor: Any,
        clock: IClock | None = None,
        configurator: IInterfaceConfigurator | None = None,
        registry: LeaseRegistry | None = None,
        state_dir: str | None = None,
        rng: random.Random | None = None,
        open_sockets: Callable[[str], tuple[Any, Any]] = rawsocket.open_sockets,
        spawn: Callable[..., Any] | None = None,
        prober_factory: Callable[..., Any] | None = None,
        timer_factory: Callable[..., Any] | None = None,
    ) -> None:
        MachineDriver.__init__(self, cfg.name, clock if clock is not None else SystemClock())
        self.cfg = cfg
        self.reactor = reactor
        self.configurator = configurator if cfg.configure else None
        self.registry = registry
        self.rng = rng if rng is not None else random.SystemRandom()
        self._open_sockets = open_sockets
        self.hooks = HookRunner(cfg.script, reactor, spawn=spawn) if cfg.script else None
        self.lease_file = LeaseFile(state_dir, cfg.name) if state_dir and cfg.persist else None
        self._prober_factory = prober_factory or ArpProber
        self._timer_factory = timer_factory or make_timer
        self.observers: list[Callable[[StateChanged], None]] = []
        self._receiver: SocketReader | None = None
        self._drain: SocketReader | None = None
        self._timer: BoottimeTimer | ReactorTimer | None = None
        self._prober: ArpProber | None = None
        self._chain: defer.Deferred = defer.succeed(None)
        self._waiters: list[defer.Deferred] = []
        self._link_mtu: int | None = None
        self._mtu_set = False
        self._configurator_off = False
        self._rejected_logged: set[str] = set()
        self.running = False

    # ---- life cycle ----

    def start(self, mac: bytes, carrier: bool = True, mtu: int | None = None) -> None:
        if self.running:
            return
        receive, send = self._open_sockets(self.ifname)
        self._attach(receive, send, mtu)
        self.build_machine(self.cfg, mac, mtu, self.rng, self.lease_file)
        self.machine.carrier = carrier
        self.running = True
        self._feed(self.machine.start(self.clock.monotonic(), self.clock.wall()))

    def adopt(self, early: EarlyInterface) -> None:
        """
        Carry on from the early path (L{dhcpsuite.client.early.EarlyInterface}):
        its machine, its sockets, and the actions it left for the reactor.
        """
        if self.running:
            raise RuntimeError(f"{self.ifname}: the agent is already running")
        self._attach(early.receive_socket, early.send_socket, early.mtu)
        self.machine = early.machine
        self.sent += early.sent
        for reason, count in early.drops.items():
            self.drops[reason] = self.drops.get(reason, 0) + count
        self.running = True
        self._feed(early.pending)

    def _attach(self, receive: socket.socket, send: socket.socket, mtu: int | None) -> None:
        self._link_mtu = mtu
        self._configurator_off = False
        self._receiver = SocketReader(receive, self._packet_received, self.reactor)
        self._drain = SocketReader(send, rawsocket.discard, self.reactor)
        self.send_socket = send
        self.receive_socket = receive
        self._receiver.startReading()
        self._drain.startReading()
        self._timer = self._timer_factory(self._timer_fired, self.reactor, self.clock)

    def stop(self, release: bool | None = None, interface_gone: bool = False) -> defer.Deferred:
        """
        RELEASE (or DROP) and close everything.

        @param interface_gone: the interface was removed: nothing to send and
            nothing to deconfigure, but hooks, registry and the lease file
            are still told.
        @return: a L{Deferred} that fires once the interface is deconfigured
            and every hook has ended.
        """
        if not self.running:
            return self._settled()
        if release is None:
            release = self.cfg.release_on_stop and not interface_gone
        if interface_gone:
            self.send_socket = None
            self._configurator_off = True
        self._feed(self.machine.stop(self.clock.monotonic(), release, self.clock.wall()))
        self.running = False
        if self._prober is not None:
            self._prober.cancel()
            self._prober = None
        for reader in (self._receiver, self._drain):
            if reader is not None:
                reader.close()
        self._receiver = self._drain = self.send_socket = self.receive_socket = None
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        for waiter in self._waiters:
            waiter.callback(Outcome.STOPPED)
        self._waiters = []
        return self._settled()

    def _settled(self) -> defer.Deferred:
        chain: defer.Deferred = defer.Deferred()
        self._chain.addBoth(lambda _: chain.callback(None))
        if self.hooks is not None:
            chain.addCallback(lambda _: self.hooks.wait_idle())
        return chain

    # ---- inputs ----

    def carrier_changed(self, carrier: bool) -> None:
        if not self.running:
            return
        now, wall = self.clock.monotonic(), self.clock.wall()
        self.log.info("{ifname}: carrier {state}", ifname=self.ifname, state="up" if carrier else "down")
        self._feed(self.machine.carrier_up(now, wall) if carrier else self.machine.carrier_lost(now, wall))

    def hardware_changed(self, mac: bytes) -> None:
        if self.running:
            self._feed(self.machine.hardware_changed(mac, self.clock.monotonic(), self.clock.wall()))

    def request_renew(self, timeout: float | None = None, rebind: bool = False) -> defer.Deferred:
        """
        Renew (or acquire) now, joining a transaction already under way.

        @param timeout: how long this caller waits (dhcpagent's ipc_action):
            on timeout its L{Deferred} fails with L{defer.TimeoutError} while
            the agent's own transaction carries on.
        @return: a L{Deferred} firing with the outcome (C{"bound"},
            C{"extended"}, C{"nak"}, C{"failed"}, C{"informed"},
            C{"stopped"}).
        """
        if not self.running:
            return defer.succeed(Outcome.STOPPED)
        waiter: defer.Deferred = defer.Deferred()
        self._waiters.append(waiter)
        actions, joined = self.machine.renew(self.clock.monotonic(), self.clock.wall(), rebind=rebind)
        if joined:
            self.log.info("{ifname}: renew joins the transaction under way", ifname=self.ifname)
        self._feed(actions)
        if timeout is not None and not waiter.called:
            call = self.reactor.callLater(timeout, self._wait_timed_out, waiter, timeout)

            def cancel_timeout(result: Any) -> Any:
                if call.active():
                    call.cancel()
                return result

            waiter.addBoth(cancel_timeout)
        return waiter

    def _wait_timed_out(self, waiter: defer.Deferred, timeout: float) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
            waiter.errback(defer.TimeoutError(f"{self.ifname}: no outcome within {timeout:g} s"))

    def _packet_received(self, data: bytes, address: rawsocket.PacketAddress) -> None:
        if self.running:
            self.frame_received(data, address)

    def _timer_fired(self) -> None:
        if self.running:
            self._feed(self.machine.tick(self.clock.monotonic(), self.clock.wall()))

    # ---- actions ----

    def feed(self, actions: list[Action]) -> None:
        self._feed(actions)

    def _feed(self, actions: list[Action]) -> None:
        """
        Carry out the machine's actions, then arm the timer for its next
        deadline.
        """
        for action in actions:
            try:
                self.carry_out(action)
            except Exception:
                self.log.failure("{ifname}: action {action!r} failed", ifname=self.ifname, action=action)
        if self._timer is not None:
            deadline = self.machine.next_deadline() if self.running else None
            if deadline is None:
                self._timer.cancel()
            elif deadline != self._timer.deadline:
                self._timer.arm(deadline)

    def handlers(self) -> Mapping[type, Callable[[Any], None]]:
        return {
            Send: self.send,
            Configure: lambda a: self._configure(a.lease, a.event, applied=a.applied),
            Deconfigure: lambda a: self._deconfigure(a.lease, a.event, a.forget, a.reply),
            Notify: lambda a: self._hook(a.event, a.lease, a.reply),
            Probe: self._probe,
            TransactionDone: self._transaction_done,
            StateChanged: self._state_changed,
        }

    def _transaction_done(self, action: TransactionDone) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(action.outcome)

    def _state_changed(self, action: StateChanged) -> None:
        for observer in list(self.observers):
            observer(action)

    def _probe(self, action: Probe) -> None:
        self._prober = self._prober_factory(self.ifname, self.machine.settings.mac, self.reactor, rng=self.rng)
        machine = self.machine

        def done(conflict: bool) -> None:
            self._prober = None
            if self.running and self.machine is machine:
                self._feed(machine.probe_result(conflict, self.clock.monotonic(), self.clock.wall()))

        self._prober.probe(action.address).addCallback(done)

    def _serial(self, operation: Callable[[], Any], what: str) -> None:
        """
        Run configurator operations one after another, in order; a failure is
        logged and the next one still runs.
        """

        def run(_: Any) -> Any:
            return defer.maybeDeferred(operation)

        def failed(f: Failure) -> None:
            self.log.error("{ifname}: {what} failed: {error}", ifname=self.ifname, what=what, error=f.getErrorMessage())

        self._chain.addBoth(run).addErrback(failed)

    def _configure(self, lease: Lease, event: Event, applied: bool = False) -> None:
        self.log.info(
            "{ifname}: {event} {address} from {server}, lease {lease_time} s",
            ifname=self.ifname, event=event, address=lease.interface, server=lease.server_id,
            lease_time=lease.lease_time,
        )
        configurator = self.configurator
        if configurator is not None:
            calls = lease_calls(self.ifname, lease, self.clock.monotonic(), self._link_mtu, self.cfg.route_metric)
            for call in calls:
                if call.method == "set_mtu":
                    self._mtu_set = True
                if not applied:
                    self._serial(lambda call=call: call.apply(configurator), call.what)
        if self.registry is not None:
            self.registry.set_lease(self.ifname, FAMILY_V4, lease, event)
        if self.lease_file is not None:
            self._serial(lambda: self.lease_file.save(lease), "saving the lease")
        self._serial(lambda: self._hook(event, lease), "running the hook")

    def _deconfigure(self, lease: Lease, event: Event, forget: bool, reply: Message | None = None) -> None:
        self.log.info("{ifname}: {event} {address}", ifname=self.ifname, event=event, address=lease.interface)
        configurator = None if self._configurator_off else self.configurator
        if configurator is not None:
            for route in sorted(lease.routes(), key=lambda r: r.gateway is None):
                self._serial(lambda route=route: configurator.remove_route(
                    route.destination, gateway=route.gateway, ifname=self.ifname, metric=self.cfg.route_metric,
                ), f"removing the route to {route.destination}")
            self._serial(lambda: configurator.remove_address(self.ifname, lease.interface), "removing the address")
            if self._mtu_set and self._link_mtu is not None:
                self._mtu_set = False
                mtu = self._link_mtu
                self._serial(lambda: configurator.set_mtu(self.ifname, mtu), "restoring the MTU")
        if self.registry is not None:
            self.registry.clear_lease(self.ifname, FAMILY_V4, event)
        if self.lease_file is not None:
            if forget:
                self._serial(self.lease_file.forget, "forgetting the lease")
            else:
                self._serial(lambda: self.lease_file.save(lease), "saving the lease")
        self._serial(lambda: self._hook(event, lease, reply, lease_removed=True), "running the hook")

    def _hook(self, event: Event, lease: Lease | None, reply: Message | None = None, lease_removed: bool = False) -> None:
        if self.hooks is None:
            return
        # A NAK's variables are the NAK's (message, serverid), not the lost lease's.
        rejected: list[str] = []
        env = hook_environment(self.ifname, event, None if event is Event.NAK else lease, reply, rejected)
        for name in rejected:
            if name not in self._rejected_logged:
                # Once per variable: a rogue server repeats itself every renewal.
                self._rejected_logged.add(name)
                self.log.warn(
                    "{ifname}: the server's {name} is not a valid value; the hook gets \"bad\"",
                    ifname=self.ifname, name=name,
                )
        for action in udhcpc_actions(event, lease_removed):
            # udhcpc gives "deconfig" nothing but the interface.
            self.hooks.run(action, env if action != "deconfig" else _deconfig_environment(env))

    # ---- status ----

    def status_brief(self) -> dict:
        status = self.status()
        return {"state": status.get("state"), "address": status.get("address")}

    def status(self) -> dict:
        status = self.machine.status() if self.machine is not None else {"state": State.STOPPED.value}
        status.update(interface=self.ifname, running=self.running, drops=self.all_drops(), sent=self.sent)
        return status
