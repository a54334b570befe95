# -*- test-case-name: tests.unit.test_client_driver -*-
"""
What every driver of a L{ClientMachine} does, whatever runs it: build the
machine from the configuration and the persisted lease, turn a frame read
from the packet socket into a machine input (or a counted drop), send the
machine's packets (a failure warned about and not counted as sent), and
hand each action to the handler for its type.

Two drivers use it: the early path's C{select} loop
(L{dhcpsuite.client.early}) and the Twisted agent
(L{dhcpsuite.client.shell.agent}). Each supplies only its I/O: the sockets,
the clock, and one handler per action type (L{MachineDriver.handlers}).

Nothing here may import Twisted or zope: the early path uses it before the
reactor is imported (C{tests.unit.test_client_early} checks that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dhcpsuite.client.config import InterfaceConfig
from dhcpsuite.client.core.machine import (
    Action,
    ClientMachine,
    Configure,
    Deconfigure,
    Notify,
    Probe,
    Send,
    StateChanged,
    TransactionDone,
)
from dhcpsuite.client.system import rawsocket
from dhcpsuite.client.system.persist import LeaseFile
from dhcpsuite.lazylog import LazyLogger

# Every action type the machine emits; a driver has a handler for each
# (L{MachineDriver.handlers}; C{tests.unit.test_client_driver} checks it).
ACTION_TYPES: tuple[type, ...] = (Send, Configure, Deconfigure, Notify, Probe, TransactionDone, StateChanged)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the early path imports neither typing nor socket.py
    import socket
    from typing import Any, Protocol

    from dhcpsuite.client.system.urandom import RandomSource

    class MachineClock(Protocol):
        """
        The two clocks a machine is fed with (L{dhcpsuite.interfaces.IClock}
        without zope, for the early path).
        """

        def monotonic(self) -> float: ...

        def wall(self) -> float: ...


class MachineDriver:
    """
    One interface's machine and what drives it.

    Subclasses set C{receive_socket} / C{send_socket} (or leave them
    L{None} while closed) and override L{handlers}.

    @ivar machine: the L{ClientMachine}, once built.
    @ivar drops: frames dropped before the machine, by reason.
    @ivar sent: packets handed to the kernel.
    """

    # A twisted.logger.Logger in the agent; lazy here, for the early path.
    log: Any = LazyLogger()

    def __init__(self, ifname: str, clock: MachineClock) -> None:
        self.ifname = ifname
        self.clock = clock
        self.machine: ClientMachine | None = None
        self.drops: dict[str, int] = {}
        self.sent = 0
        self.receive_socket: socket.socket | None = None
        self.send_socket: socket.socket | None = None
        self._handler_table: Mapping[type, Callable[[Any], None]] | None = None

    def build_machine(self, cfg: InterfaceConfig, mac: bytes, mtu: int | None, rng: RandomSource,
                      lease_file: LeaseFile | None) -> ClientMachine:
        """
        The machine for C{cfg}, remembering the lease C{lease_file} holds
        (if it has not expired on the wall clock).
        """
        now, wall = self.clock.monotonic(), self.clock.wall()
        remembered = lease_file.load(now, wall) if lease_file is not None else None
        self.machine = cfg.new_machine(mac, mtu, rng, remembered)
        return self.machine

    def handlers(self) -> Mapping[type, Callable[[Any], None]]:
        """
        The handler of each action type in L{ACTION_TYPES}.
        """
        raise NotImplementedError

    def carry_out(self, action: Action) -> None:
        table = self._handler_table
        if table is None:
            table = self._handler_table = self.handlers()
        table[type(action)](action)

    def feed(self, actions: list[Action]) -> None:
        raise NotImplementedError

    def frame_received(self, data: bytes, address: rawsocket.PacketAddress) -> None:
        """
        A frame from the packet socket: to the machine, or dropped and
        counted.
        """
        message, drop, source = rawsocket.decode_reply(data, address)
        if message is None:
            if drop is not None:
                self.count_drop(drop)
            return
        self.feed(self.machine.receive(message, self.clock.monotonic(), self.clock.wall(), source))

    def count_drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1
        if self.drops[reason] == 1:
            self.log.info("{ifname}: dropping a malformed reply: {reason} (counted; logged once)",
                          ifname=self.ifname, reason=reason)

    def send(self, action: Send) -> None:
        if self.send_socket is None:
            return
        try:
            rawsocket.send_message(self.send_socket, action.message, action.server, self.receive_socket)
        except OSError as e:
            self.log.warn("{ifname}: send failed: {error}", ifname=self.ifname, error=e)
            return
        self.sent += 1

    def all_drops(self) -> dict[str, int]:
        """
        Frames dropped before the machine, replies the machine did not take
        and malformed options it ignored, by reason: the API's and
        /metrics' drop counts.
        """
        drops = dict(self.drops)
        if self.machine is not None:
            for reason, count in self.machine.drops.items():
                drops[reason] = drops.get(reason, 0) + count
            for code, count in self.machine.bad_options.items():
                drops[f"malformed option {code} (ignored)"] = count
        return drops
