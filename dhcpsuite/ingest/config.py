# -*- test-case-name: tests.unit.test_ingest_config -*-
"""
The C{[ingest]} section::

    [ingest]
    endpoint = "tcp:50324:interface=127.0.0.1"   # a Twisted server endpoint string, or ipc:///PATH
    ipc_mode = "0600"                            # file mode of an ipc:// (or unix:) socket
    max_message_size = 4096                      # bytes; a longer length closes the connection
    handshake_timeout = 1.0                      # seconds for the peer's SP header
    message_timeout = 5.0                        # seconds from a message's first byte to its last
    idle_timeout = 30.0                          # seconds a connection may sit between messages
    max_connections = 64                         # more are closed as soon as accepted
    max_buffered_bytes = 1048576                 # incomplete messages held across connections
    max_unmanaged_interfaces = 256               # with accept_unmanaged: interfaces in the registry
    layout = "auto"                              # or x86_64, x86_64-nomape, ilp32, ilp32-nomape
    interfaces = ["erouter0"]                    # managed interfaces
    accept_unmanaged = false                     # true: accept leases for any interface
    apply_to_interface = false                   # true: configure address/routes/MTU

An C{ipc://PATH} endpoint (nanomsg's address, as the plugins take it) is a
UNIX socket with nanomsg's IPC framing, created with C{ipc_mode}; so is a
Twisted C{unix:} string (C{ipc_mode} unless it gives C{mode=}).
"""

from __future__ import annotations

import attrs

from dhcpsuite.config import ConfigError, Section
from dhcpsuite.ingest import layout as _layout
from dhcpsuite.ingest import protocol as _protocol
from dhcpsuite.ingest.sp import DEFAULT_MAX_MESSAGE_SIZE, IPC_PREFIX_SIZE, TRANSPORT_IPC, TRANSPORT_TCP

DEFAULT_ENDPOINT = "tcp:50324:interface=127.0.0.1"
LAYOUT_AUTO = "auto"
LAYOUT_CHOICES = (LAYOUT_AUTO,) + tuple(layout.name for layout in _layout.LAYOUTS)
# Far above any PLUGIN_MSG, far below what could exhaust memory per connection.
MAX_MESSAGE_SIZE_LIMIT = 64 * 1024 * 1024
IPC_SCHEME = "ipc://"
DEFAULT_IPC_MODE = 0o600  # only the daemon's user (and root) may push
# A handful of WAN interfaces is usual; this keeps a flood of made-up names
# (accept_unmanaged) to a few hundred kilobytes and a quick status page.
DEFAULT_MAX_UNMANAGED_INTERFACES = 256


@attrs.frozen
class IngestConfig:
    """
    @ivar layout: a layout name to pin, or C{"auto"} (choose by size).
    @ivar interfaces: the managed interfaces.
    """

    endpoint: str = DEFAULT_ENDPOINT
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    handshake_timeout: float = _protocol.DEFAULT_HANDSHAKE_TIMEOUT
    layout: str = LAYOUT_AUTO
    interfaces: tuple[str, ...] = ()
    accept_unmanaged: bool = False
    apply_to_interface: bool = False
    ipc_mode: int = DEFAULT_IPC_MODE
    message_timeout: float = _protocol.DEFAULT_MESSAGE_TIMEOUT
    idle_timeout: float = _protocol.DEFAULT_IDLE_TIMEOUT
    max_connections: int = _protocol.DEFAULT_MAX_CONNECTIONS
    max_buffered_bytes: int = _protocol.DEFAULT_MAX_BUFFERED
    max_unmanaged_interfaces: int = DEFAULT_MAX_UNMANAGED_INTERFACES

    @property
    def pinned_layout(self) -> _layout.Layout | None:
        return None if self.layout == LAYOUT_AUTO else _layout.get_layout(self.layout)

    @property
    def transport(self) -> str:
        """
        The SP framing the endpoint speaks: IPC on a UNIX socket, else TCP.
        """
        return TRANSPORT_IPC if self.endpoint.startswith((IPC_SCHEME, "unix:")) else TRANSPORT_TCP

    @property
    def twisted_endpoint(self) -> str:
        """
        C{endpoint} as a Twisted server endpoint string: an C{ipc://PATH}
        becomes C{unix:PATH} with C{ipc_mode}, without Twisted's lock file
        (a stale socket is found by connecting to it, as nanomsg does: see
        L{dhcpsuite.ingest.service.remove_stale_socket}).
        """
        mode = f"mode={self.ipc_mode:o}"
        if self.endpoint.startswith(IPC_SCHEME):
            path = self.endpoint[len(IPC_SCHEME):].replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")
            return f"unix:{path}:{mode}:lockfile=0"
        if self.endpoint.startswith("unix:") and not _has_option(self.endpoint, "mode"):
            return f"{self.endpoint}:{mode}"
        return self.endpoint

    @property
    def ipc_path(self) -> str | None:
        """
        The socket path of an C{ipc://} endpoint, else L{None}.
        """
        return self.endpoint[len(IPC_SCHEME):] if self.endpoint.startswith(IPC_SCHEME) else None

    @property
    def limits(self) -> _protocol.Limits:
        return _protocol.Limits(
            max_message_size=self.max_message_size, handshake_timeout=self.handshake_timeout,
            max_connections=self.max_connections, message_timeout=self.message_timeout,
            idle_timeout=self.idle_timeout, max_buffered=self.max_buffered_bytes,
        )


def _has_option(endpoint: str, name: str) -> bool:
    return any(part.startswith(name + "=") for part in endpoint.split(":")[1:])


def _octal_mode(text: str) -> int:
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise ValueError("")
    return int(text, 8)


def _check_endpoint(section: Section, key: str, text: str) -> str:
    from twisted.internet import endpoints

    try:
        # Building the endpoint only stores the reactor: no socket is made.
        endpoints.serverFromString(object(), text)
    except (ValueError, KeyError, TypeError) as e:
        raise section.error(key, f"{text!r} is not a Twisted server endpoint string ({e})") from None
    return text


def parse_ingest_config(section: Section) -> IngestConfig:
    endpoint = section.string("endpoint", DEFAULT_ENDPOINT)
    if not endpoint.strip():
        raise section.error("endpoint", "must not be empty")
    timeout = section.number("handshake_timeout", _protocol.DEFAULT_HANDSHAKE_TIMEOUT, minimum=0.001)
    max_message_size = section.integer("max_message_size", DEFAULT_MAX_MESSAGE_SIZE,
                                       minimum=_layout.DEFAULT.size, maximum=MAX_MESSAGE_SIZE_LIMIT)
    max_buffered = section.integer("max_buffered_bytes", _protocol.DEFAULT_MAX_BUFFERED,
                                   minimum=max_message_size + IPC_PREFIX_SIZE)
    cfg = IngestConfig(
        endpoint=endpoint,
        ipc_mode=section.parsed("ipc_mode", _octal_mode, 'an octal file mode such as "0600"', DEFAULT_IPC_MODE),
        max_message_size=max_message_size,
        handshake_timeout=float(timeout),
        message_timeout=float(section.number("message_timeout", _protocol.DEFAULT_MESSAGE_TIMEOUT, minimum=0.001)),
        idle_timeout=float(section.number("idle_timeout", _protocol.DEFAULT_IDLE_TIMEOUT, minimum=0.001)),
        max_connections=section.integer("max_connections", _protocol.DEFAULT_MAX_CONNECTIONS, minimum=1,
                                        maximum=65536),
        max_buffered_bytes=max_buffered,
        max_unmanaged_interfaces=section.integer("max_unmanaged_interfaces", DEFAULT_MAX_UNMANAGED_INTERFACES,
                                                 minimum=0),
        layout=section.choice("layout", LAYOUT_CHOICES, LAYOUT_AUTO),
        interfaces=tuple(section.string_list("interfaces", [])),
        accept_unmanaged=section.boolean("accept_unmanaged", False),
        apply_to_interface=section.boolean("apply_to_interface", False),
    )
    if endpoint.startswith(IPC_SCHEME) and not endpoint[len(IPC_SCHEME):]:
        raise section.error("endpoint", f"{endpoint!r} has no socket path")
    _check_endpoint(section, "endpoint", cfg.twisted_endpoint)
    interfaces = section.string_list("interfaces", [])
    for index, name in enumerate(interfaces):
        if not name or len(name.encode()) >= _layout.IFNAME_SIZE or "/" in name or name.strip() != name:
            raise ConfigError(f"{section.key_path('interfaces')}[{index}]", f"{name!r} is not an interface name")
    return cfg
