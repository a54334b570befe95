# -*- test-case-name: tests.unit.test_control -*-
"""
The control plane's listening service.
"""

from __future__ import annotations

from typing import Any

import attrs
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from zope.interface import implementer

from dhcpsuite.control.config import ControlConfig, address_is_local
from dhcpsuite.control.web import make_site
from dhcpsuite.daemon import Daemon


class RemoteListenRefused(Exception):
    pass


def remote_listen_problem(address: Any, config: ControlConfig) -> str | None:
    """
    Why the API may not stay on the address it is bound to, or C{None}.
    Decided from where the socket really listens, whatever the endpoint
    string seemed to say.
    """
    if not isinstance(address, (IPv4Address, IPv6Address)) or address_is_local(address.host):
        return None
    if config.allow_remote and config.token:
        return None
    return f"control.listen: the API is bound to {address.host}, not loopback; set allow_remote = true and a token to listen on the network"


@implementer(IStreamServerEndpoint)
@attrs.define
class LocalOnlyEndpoint:
    """
    An endpoint that stops listening again, with an error, when the bound
    address is not one L{remote_listen_problem} allows.
    """

    endpoint: Any
    config: ControlConfig

    def listen(self, factory: IProtocolFactory) -> Deferred:
        def check(port: IListeningPort) -> IListeningPort:
            problem = remote_listen_problem(port.getHost(), self.config)
            if problem is not None:
                port.stopListening()
                raise RemoteListenRefused(problem)
            return port

        return self.endpoint.listen(factory).addCallback(check)


def make_control_service(config: ControlConfig, daemon: Daemon, reactor: Any = None) -> IService:
    if reactor is None:
        from twisted.internet import reactor
    endpoint = LocalOnlyEndpoint(serverFromString(reactor, config.listen), config)
    site = make_site(daemon, config, reactor)
    daemon.control = site
    service = StreamServerEndpointService(endpoint, site)
    # Fail the start (not only log) when the port cannot be had or is refused.
    service._raiseSynchronously = True
    service.setName("control")
    return service
