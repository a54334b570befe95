# -*- test-case-name: tests.unit.test_client_service -*-
"""
The interface manager: one L{ClientAgent} per configured interface, driven
by netlink link events (an agent starts when its interface exists, follows
its carrier and MAC, and stops when it is removed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.client.config import ClientConfig, InterfaceConfig
from dhcpsuite.client.shell.agent import ClientAgent
from dhcpsuite.client.system.sysfs import mac_bytes, read_link
from dhcpsuite.interfaces import INetlinkListener
from dhcpsuite.netlink.events import Event as NetlinkEvent
from dhcpsuite.netlink.events import Link, LinkAdded, LinkChanged, LinkRemoved

if TYPE_CHECKING:
    from dhcpsuite.client.early import EarlyInterface


@implementer(INetlinkListener)
class ClientManager:
    log = Logger()

    def __init__(self, cfg: ClientConfig, agent_factory: Callable[[InterfaceConfig], ClientAgent],
                 sysfs: str = "/sys/class/net") -> None:
        self.cfg = cfg
        self.sysfs = sysfs
        self._agent_factory = agent_factory
        self.agents: dict[str, ClientAgent] = {i.name: agent_factory(i) for i in cfg.interfaces}
        # Agents of interfaces a reload removed or changed, until they stopped.
        self._retiring: set[defer.Deferred] = set()
        self.stopping = False
        # Interfaces whose agent was stopped on request (release / stop):
        # no link event starts them again, only start_agent.
        self.held: set[str] = set()
        # The netlink events the client follows, by type; others are ignored.
        self._handlers: dict[type, Callable[[Any], None]] = {
            LinkAdded: lambda event: self._link(event.link, None),
            LinkChanged: lambda event: self._link(event.link, event.previous),
            LinkRemoved: self._link_removed,
        }

    # INetlinkListener

    def netlink_event(self, event: NetlinkEvent) -> None:
        if self.stopping:
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _link_removed(self, event: LinkRemoved) -> None:
        agent = self.agents.get(event.link.name)
        if agent is not None and agent.running:
            self.log.info("{ifname}: interface removed; agent stops", ifname=agent.ifname)
            agent.stop(release=False, interface_gone=True)

    def _link(self, link: Link, previous: Link | None) -> None:
        agent = self.agents.get(link.name)
        if agent is None or not link.mac or link.name in self.held:
            return
        mac = mac_bytes(link.mac)
        if not agent.running:
            self.log.info("{ifname}: interface present (carrier {carrier}); agent starts", ifname=link.name,
                          carrier="up" if link.carrier else "down")
            self._start(agent, mac, link.carrier, link.mtu)
            return
        if previous is None:
            previous_mac, previous_carrier = None, agent.machine.carrier
        else:
            previous_mac, previous_carrier = previous.mac, previous.carrier
        if previous_mac is not None and previous_mac != link.mac:
            agent.hardware_changed(mac)
        if previous_carrier != link.carrier:
            agent.carrier_changed(link.carrier)

    # Without a netlink reader

    def start_from_sysfs(self, only: str | None = None) -> None:
        """
        Start every agent (or only C{only}) whose interface exists now, from
        C{/sys/class/net} (carrier and hot-plug then come from netlink events).
        """
        for name, agent in self.agents.items():
            if agent.running or (only is not None and name != only) or name in self.held:
                continue
            link = read_link(self.sysfs, name)
            if link is None:
                self.log.info("{ifname}: not present yet", ifname=name)
                continue
            self._start(agent, link.mac, link.carrier, link.mtu)

    def adopt(self, early: dict[str, EarlyInterface]) -> None:
        """
        Hand each interface the early path started
        (L{dhcpsuite.client.early.acquire}) to its agent.
        """
        for name, interface in early.items():
            agent = self.agents.get(name)
            if agent is None or agent.running:
                interface.close()
                continue
            self.log.info("{ifname}: the reactor takes over in state {state}", ifname=name,
                          state=interface.machine.state.value)
            agent.adopt(interface)

    def _start(self, agent: ClientAgent, mac: bytes, carrier: bool, mtu: int | None) -> None:
        try:
            agent.start(mac, carrier=carrier, mtu=mtu)
        except OSError as e:
            # The interface went away between the event and the socket, or
            # we lack the privileges: say so, and try again on its next event.
            self.log.error("{ifname}: cannot start: {error}", ifname=agent.ifname, error=e)

    def stop(self) -> defer.Deferred:
        self.stopping = True
        stops = [agent.stop() for agent in self.agents.values()] + list(self._retiring)
        return defer.DeferredList(stops, consumeErrors=True)

    def reconfigure(self, cfg: ClientConfig) -> None:
        """
        A reload: an interface no longer configured has its agent stopped
        as at a daemon stop (RELEASE only with C{release_on_stop}); one
        whose settings changed is stopped the same way (DROP keeps its
        lease for INIT-REBOOT) and started again with the new settings; a
        new one starts once its interface exists.
        """
        old = {i.name: i for i in self.cfg.interfaces}
        self.cfg = cfg
        for name, interface in old.items():
            if cfg.interface(name) != interface:
                self._retire(name, self.agents.pop(name))
        for interface in cfg.interfaces:
            if interface.name not in self.agents:
                self.log.info("{ifname}: added by a reload", ifname=interface.name)
                self.agents[interface.name] = self._agent_factory(interface)
                waiting = [d for d in self._retiring if getattr(d, "ifname", None) == interface.name]
                if waiting:
                    waiting[0].addBoth(lambda result, name=interface.name: self._start_added(name, result))
                else:
                    self._start_added(interface.name, None)

    def _retire(self, name: str, agent: ClientAgent) -> None:
        self.held.discard(name)
        self.log.info("{ifname}: removed or changed by a reload; agent stops", ifname=name)
        d = agent.stop()
        d.ifname = name  # type: ignore[attr-defined]
        self._retiring.add(d)

        def done(result: Any) -> Any:
            self._retiring.discard(d)
            return result

        d.addBoth(done)

    def _start_added(self, name: str, result: Any) -> Any:
        if not self.stopping and name in self.agents:
            self.start_from_sysfs(only=name)
        return result

    def renew(self, ifname: str, timeout: float | None = None, rebind: bool = False) -> defer.Deferred:
        agent = self.agents.get(ifname)
        if agent is None:
            return defer.fail(KeyError(ifname))
        return agent.request_renew(timeout, rebind=rebind)

    def start_agent(self, ifname: str) -> None:
        """
        Start a stopped agent again (its interface must exist).
        """
        self.stopping = False
        self.held.discard(ifname)
        agent = self.agents[ifname]
        if not agent.running:
            self.start_from_sysfs(only=ifname)

    def stop_agent(self, ifname: str, release: bool) -> defer.Deferred:
        """
        Stop one agent on request (RELEASE or DROP): it stays stopped
        through link events (the MTU restore the release itself causes
        among them) until L{start_agent}.
        """
        self.held.add(ifname)
        self.log.info("{ifname}: agent stopped on request; it stays stopped until started", ifname=ifname)
        return self.agents[ifname].stop(release=release)

    def status(self) -> dict:
        return {name: agent.status() for name, agent in self.agents.items()}

