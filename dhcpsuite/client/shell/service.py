# -*- test-case-name: tests.unit.test_client_service -*-
"""
The DHCPv4 client as a Twisted service: the manager and its agents, fed by
a netlink reader and applying leases through an interface configurator.
Either may be shared with the rest of the daemon (passed in) or, when not
given, opened and closed by this service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.client.shell.agent import ClientAgent
from dhcpsuite.config import ConfigError
from dhcpsuite.client.config import ClientConfig
from dhcpsuite.client.shell.manager import ClientManager
from dhcpsuite.client.shell.deadline_timers import SystemClock
from dhcpsuite.interfaces import IClock, IComponentHealth, IInterfaceConfigurator, IReconfigurable
from dhcpsuite.leases.registry import LeaseRegistry

if TYPE_CHECKING:
    from dhcpsuite.client.early import EarlyInterface
    from dhcpsuite.netlink.reader import NetlinkReader


@implementer(IComponentHealth, IReconfigurable)
class ClientService(service.Service):
    """
    @ivar manager: the L{ClientManager} (C{agents}, C{renew}, C{status}).
    """

    log = Logger()
    name = "dhcp4-client"

    def __init__(
        self,
        cfg: ClientConfig,
        manager: ClientManager,
        netlink: NetlinkReader | None = None,
        owned: tuple = (),
        configurator: IInterfaceConfigurator | None = None,
    ) -> None:
        self.cfg = cfg
        # The configurator the agents were given (a reload cannot open one).
        self.configurator = configurator
        self.manager = manager
        self.netlink = netlink
        # Reader / configurator this service opened itself and must close.
        self._owned = owned
        self._early: dict[str, EarlyInterface] = {}

    def hand_over(self, early: dict[str, EarlyInterface]) -> None:
        """
        Interfaces the early path started (L{dhcpsuite.client.early.acquire}):
        their agents adopt them when the service starts.
        """
        self._early = dict(early)

    def privilegedStartService(self) -> None:
        service.Service.privilegedStartService(self)
        for component in self._owned:
            component.open()

    def startService(self) -> None:
        service.Service.startService(self)
        for component in self._owned:
            component.start()
        early, self._early = self._early, {}
        self.manager.adopt(early)
        # Interfaces that exist now start at once, without waiting for the
        # reader's first dump; netlink events then keep them up to date.
        self.manager.start_from_sysfs()
        if self.netlink is not None:
            self.netlink.add_listener(self.manager, replay=True)

    def stopService(self) -> defer.Deferred:
        service.Service.stopService(self)
        if self.netlink is not None:
            self.netlink.remove_listener(self.manager)
        d = self.manager.stop()

        def close(result: Any) -> Any:
            # After the agents: RELEASE/DROP still needs the configurator.
            for component in reversed(self._owned):
                component.stop()
            return result

        return d.addBoth(close)

    def prepare_reconfigure(self, new: ClientConfig) -> Callable[[], None]:
        """
        Client interfaces added, removed or changed (L{ClientManager.reconfigure}).

        @raise ConfigError: an interface to be configured when no
            configurator was opened at start (none needed one then).
        """
        if self.configurator is None:
            for index, interface in enumerate(new.interfaces):
                if interface.configure and interface.inform is None:
                    raise ConfigError(
                        f"client.interface[{index}].configure",
                        "needs a restart: no interface configurator was opened at start (or add [netlink])",
                    )

        def apply() -> None:
            self.cfg = new
            if self.running:
                self.manager.reconfigure(new)
            else:
                self.manager.cfg = new

        return apply

    def renew(self, ifname: str, timeout: float | None = None) -> defer.Deferred:
        return self.manager.renew(ifname, timeout)

    # The control plane's view (dhcpsuite.control.api).

    def interface_names(self) -> list[str]:
        return list(self.manager.agents)

    def agents_json(self) -> list[dict]:
        result = []
        for name, status in self.manager.status().items():
            deadlines = status.get("deadlines") or {}
            upcoming = min(deadlines.items(), key=lambda item: item[1]) if deadlines else None
            result.append(
                {
                    "interface": name,
                    "state": status.get("state"),
                    "address": status.get("address"),
                    "server": status.get("server"),
                    "verified": status.get("verified"),
                    "carrier": status.get("carrier"),
                    "running": status.get("running"),
                    # Deadlines are on the monotonic (boot-time) clock; give them relative.
                    "next_timer": None if upcoming is None else upcoming[0],
                    "next_timer_in": None if upcoming is None else round(upcoming[1] - self.manager_clock(), 3),
                    "drops": status.get("drops"),
                }
            )
        return result

    @property
    def hook_counters(self) -> dict[str, int]:
        """
        Hook runs by result, summed over every interface.
        """
        total: dict[str, int] = {}
        for agent in self.manager.agents.values():
            if agent.hooks is not None:
                for result, count in agent.hooks.results.items():
                    total[result] = total.get(result, 0) + count
        return total

    def manager_clock(self) -> float:
        agents = list(self.manager.agents.values())
        return agents[0].clock.monotonic() if agents else 0.0

    def act(self, ifname: str, action: str, timeout: float) -> defer.Deferred:
        """
        renew / rebind: wait (at most C{timeout}) for the outcome; release:
        RELEASE, deconfigure and stop the agent; stop: DROP (keep the lease
        for INIT-REBOOT) and stop; start: start a stopped agent.
        """
        agent = self.manager.agents[ifname]
        if action in ("renew", "rebind"):
            d = self.manager.renew(ifname, timeout, rebind=action == "rebind")
        elif action in ("release", "stop"):
            d = self.manager.stop_agent(ifname, release=action == "release").addCallback(lambda _: "stopped")
        elif action == "start":
            self.manager.start_agent(ifname)
            d = defer.succeed("started" if agent.running else "interface-absent")
        else:
            return defer.fail(ValueError(f"unknown action {action}"))
        return d.addCallback(lambda outcome: {"interface": ifname, "action": action, "outcome": outcome, **agent.status_brief()})

    def health(self) -> dict:
        status = self.manager.status()
        return {"ok": all(s.get("running") for s in status.values()), "interfaces": status}


def make_client_service(
    cfg: ClientConfig,
    state_dir: str,
    configurator: IInterfaceConfigurator | None = None,
    registry: LeaseRegistry | None = None,
    netlink: NetlinkReader | None = None,
    reactor: Any = None,
    clock: IClock | None = None,
    agent_factory: Callable[..., ClientAgent] = ClientAgent,
    sysfs: str = "/sys/class/net",
) -> ClientService:
    """
    Build the client.

    @param configurator: an L{IInterfaceConfigurator}; when L{None} and an
        interface has C{configure = true}, a netlink configurator of our own.
    @param registry: the lease registry (C{set_lease} / C{clear_lease}), or
        L{None}.
    @param netlink: the netlink reader (C{add_listener} / C{remove_listener});
        when L{None}, a reader of our own.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    clock = clock if clock is not None else SystemClock()
    owned = []
    if configurator is None and any(i.configure and i.inform is None for i in cfg.interfaces):
        from dhcpsuite.netlink.configurator import NetlinkConfigurator

        configurator = NetlinkConfigurator(reactor=reactor)
        owned.append(configurator)
    if netlink is None:
        from dhcpsuite.netlink.reader import NetlinkReader

        netlink = NetlinkReader(reactor=reactor)
        owned.append(netlink)
    client_state = state_dir or None
    manager = ClientManager(cfg, lambda interface: agent_factory(
        interface, reactor, clock=clock, configurator=configurator, registry=registry, state_dir=client_state,
    ), sysfs=sysfs)
    return ClientService(cfg, manager, netlink=netlink, owned=tuple(owned), configurator=configurator)
