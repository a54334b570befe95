# -*- test-case-name: tests.unit.test_ingest_service -*-
"""
The lease-ingest service: the PULL endpoint listening (by default on
127.0.0.1:50324, RDK-B's address), wired to the router, the handlers and the
lease registry. L{make_ingest_service} is what C{tap.makeService} calls.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections import Counter

from twisted.application.internet import StreamServerEndpointService
from twisted.internet import defer, endpoints
from twisted.logger import Logger
from zope.interface import implementer

from dhcpsuite.ingest.config import IngestConfig
from dhcpsuite.ingest.handlers import V4LeaseHandler, V6LeaseHandler
from dhcpsuite.ingest.layout import VERSION_V4, VERSION_V6
from dhcpsuite.ingest.protocol import PullFactory
from dhcpsuite.ingest.router import MessageRouter
from dhcpsuite.interfaces import IComponentHealth, IReconfigurable


class _RecordingEndpoint:
    """
    Wraps a server endpoint to keep the listening port, so that the service
    can say where it listens (an ephemeral port in tests).
    """

    def __init__(self, endpoint, service: "IngestService") -> None:
        self._endpoint = endpoint
        self._service = service

    def listen(self, factory):
        d = self._endpoint.listen(factory)

        def listening(port):
            self._service.port = port
            for waiter in self._service._listening_waiters:
                waiter.callback(port)
            self._service._listening_waiters = []
            return port

        return d.addCallback(listening)


@implementer(IComponentHealth, IReconfigurable)
class IngestService(StreamServerEndpointService):
    """
    @ivar port: the listening port once listening, else L{None}.
    """

    log = Logger()
    name = "ingest"

    def __init__(self, endpoint, factory: PullFactory, router: MessageRouter, ipc_path: str | None = None,
                 handlers: dict | None = None) -> None:
        super().__init__(_RecordingEndpoint(endpoint, self), factory)
        self.setName("ingest")
        self.router = router
        self.handlers = handlers or {}
        self.port = None
        self.ipc_path = ipc_path
        self._listening_waiters: list[defer.Deferred] = []

    def privilegedStartService(self):
        # (startService comes here too when it was not called first.)
        if self.ipc_path is not None:
            remove_stale_socket(self.ipc_path)
        return super().privilegedStartService()

    def when_listening(self) -> defer.Deferred:
        """
        @return: a L{Deferred} firing with the listening port.
        """
        if self.port is not None:
            return defer.succeed(self.port)
        d = defer.Deferred()
        self._listening_waiters.append(d)
        return d

    @property
    def counters(self) -> Counter:
        """
        A snapshot (a new L{Counter} at each read: an absent name reads as 0) of C{connections},
        C{connections_open}, C{closed.<reason>} (handshake and framing
        failures), C{messages}, C{accepted.v4|v6}, C{outcome.v4|v6.<outcome>},
        C{layout.<name>} and C{rejected.<reason>}.
        """
        merged = Counter(self.factory.counters)
        merged.update(self.router.counters)
        return merged

    def health(self) -> dict:
        """
        For the control API: listening or not, where, and the counters.
        """
        address = self.listening_address()
        if address is None:
            listening = None
        elif hasattr(address, "host"):
            listening = f"{address.host}:{address.port}"
        else:  # a UNIX socket
            listening = address.name.decode("utf-8", "backslashreplace") \
                if isinstance(address.name, bytes) else str(address.name)
        return {
            "ok": self.port is not None,
            "listening": listening,
            "counters": dict(self.counters),
        }

    def listening_address(self):
        return None if self.port is None else self.port.getHost()

    def prepare_reconfigure(self, new: IngestConfig):
        """
        The managed interfaces and the limits change live (limits apply to
        connections accepted from then on; open ones keep their framing).
        """

        def apply() -> None:
            self.router.set_managed(new.interfaces, new.accept_unmanaged)
            for handler in self.handlers.values():
                if new.accept_unmanaged:
                    handler.set_managed(new.interfaces, new.max_unmanaged_interfaces)
                else:
                    handler.set_managed()
            self.factory.limits = new.limits
            self.log.info("Lease ingest reconfigured: managing {interfaces}", interfaces=",".join(new.interfaces))

        return apply

    def stopService(self):
        d = super().stopService()
        # Stopping listening leaves accepted connections open; close them too.
        self.factory.abort_all()
        self.port = None
        return d


def remove_stale_socket(path: str) -> bool:
    """
    Remove a UNIX socket left behind by a process that is gone (nobody
    accepts on it), as nanomsg's IPC bind does; a live listener, or a file
    that is not a socket, is left alone (the bind then fails and says so).

    @return: whether a stale socket was removed.
    """
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as e:
        if e.errno != errno.ECONNREFUSED:
            return False
    else:
        return False
    finally:
        probe.close()
    try:
        os.unlink(path)
    except OSError:
        return False
    IngestService.log.info("Removed the stale lease-ingest socket {path}", path=path)
    return True


def make_ingest_service(cfg: IngestConfig, registry, configurator=None, reactor=None, endpoint=None) -> IngestService:
    """
    @param cfg: the parsed C{[ingest]} section.
    @param registry: the L{dhcpsuite.leases.registry.LeaseRegistry} to record in.
    @param configurator: an L{IInterfaceConfigurator}; used only when
        C{cfg.apply_to_interface} is set.
    @param endpoint: a server endpoint to use instead of C{cfg.endpoint}
        (e.g. an adopted socket).
    """
    if reactor is None:
        from twisted.internet import reactor
    applier = configurator if cfg.apply_to_interface else None
    if cfg.apply_to_interface and configurator is None:
        IngestService.log.warn("ingest.apply_to_interface is set but no interface configurator was given: "
                               "leases will only be recorded")
    # Only with accept_unmanaged can a message name an interface outside
    # the configured list; those are bounded in the registry.
    handler_options = dict(managed=cfg.interfaces, max_unmanaged=cfg.max_unmanaged_interfaces) \
        if cfg.accept_unmanaged else {}
    handlers = {
        VERSION_V4: V4LeaseHandler(registry, applier, **handler_options),
        VERSION_V6: V6LeaseHandler(registry, applier, **handler_options),
    }
    router = MessageRouter(handlers, cfg.interfaces, cfg.accept_unmanaged, cfg.pinned_layout)
    factory = PullFactory(router.message_received, reactor, Counter(), cfg.limits, cfg.transport)
    endpoint_given = endpoint
    if endpoint is None:
        endpoint = endpoints.serverFromString(reactor, cfg.twisted_endpoint)
    return IngestService(endpoint, factory, router, cfg.ipc_path if endpoint_given is None else None, handlers=handlers)
