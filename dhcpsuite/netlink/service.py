# -*- test-case-name: tests.unit.test_netlink_config -*-
"""
The netlink service: the reader and the configurator, opened with
privileges and closed on stop.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from zope.interface import implementer

from dhcpsuite.interfaces import IComponentHealth
from dhcpsuite.netlink.config import NetlinkConfig
from dhcpsuite.netlink.configurator import NetlinkConfigurator
from dhcpsuite.netlink.reader import NetlinkReader
from dhcpsuite.netlink.system import INetlinkSystem, RealNetlinkSystem


@implementer(IComponentHealth)
class NetlinkService(service.Service):
    """
    @ivar reader: the L{NetlinkReader} (C{add_listener}, C{remove_listener},
        C{table}, C{readiness}, C{when_synced}).
    @ivar configurator: the L{NetlinkConfigurator} (an
        L{IInterfaceConfigurator}).
    """

    name = "netlink"

    def __init__(self, reader: NetlinkReader, configurator: NetlinkConfigurator) -> None:
        self.reader = reader
        self.configurator = configurator

    def privilegedStartService(self) -> None:
        service.Service.privilegedStartService(self)
        self.reader.open()
        self.configurator.open()

    def startService(self) -> None:
        service.Service.startService(self)
        self.configurator.start()
        self.reader.start()

    def stopService(self) -> None:
        service.Service.stopService(self)
        self.reader.stop()
        self.configurator.stop()

    def health(self) -> dict:
        return self.reader.health()


def make_netlink_service(
    cfg: NetlinkConfig | None = None, reactor: Any = None, system: INetlinkSystem | None = None
) -> NetlinkService:
    """
    Build the netlink service from its configuration. C{system} replaces
    the real sockets (L{dhcpsuite.netlink.testing.MemoryNetlinkSystem}).
    """
    cfg = cfg if cfg is not None else NetlinkConfig()
    system = system if system is not None else RealNetlinkSystem()
    reader = NetlinkReader(
        reactor=reactor,
        system=system,
        receive_buffer=cfg.receive_buffer,
        resync_min_interval=cfg.resync_min_interval,
        debounce=cfg.debounce,
        netns=cfg.netns,
        decoder=cfg.decoder,
    )
    configurator = NetlinkConfigurator(
        reactor=reactor, system=system, netns=cfg.netns, request_timeout=cfg.request_timeout,
    )
    return NetlinkService(reader, configurator)
