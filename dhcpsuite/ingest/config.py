# -*- test-case-name: tests.unit.test_ingest_config -*-
"""
The C{[ingest]} section::

    [ingest]
    endpoint = "tcp:50324:interface=127.0.0.1"   # a Twisted server endpoint string
    max_message_size = 1048576                   # bytes; a longer length closes the connection
    handshake_timeout = 1.0                      # seconds for the peer's SP header
    layout = "auto"                              # or x86_64, x86_64-nomape, ilp32, ilp32-nomape
    interfaces = ["erouter0"]                    # managed interfaces
    accept_unmanaged = false                     # true: accept leases for any interface
    apply_to_interface = false                   # true: configure address/routes/MTU
"""

from __future__ import annotations

import attrs

from dhcpsuite.config import ConfigError, Section
from dhcpsuite.ingest import layout as _layout
from dhcpsuite.ingest.protocol import DEFAULT_HANDSHAKE_TIMEOUT
from dhcpsuite.ingest.sp import DEFAULT_MAX_MESSAGE_SIZE

DEFAULT_ENDPOINT = "tcp:50324:interface=127.0.0.1"
LAYOUT_AUTO = "auto"
LAYOUT_CHOICES = (LAYOUT_AUTO,) + tuple(layout.name for layout in _layout.LAYOUTS)
# Far above any PLUGIN_MSG, far below what could exhaust memory per connection.
MAX_MESSAGE_SIZE_LIMIT = 64 * 1024 * 1024


@attrs.frozen
class IngestConfig:
    """
    @ivar layout: a layout name to pin, or C{"auto"} (choose by size).
    @ivar interfaces: the managed interfaces.
    """

    endpoint: str = DEFAULT_ENDPOINT
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    layout: str = LAYOUT_AUTO
    interfaces: tuple[str, ...] = ()
    accept_unmanaged: bool = False
    apply_to_interface: bool = False

    @property
    def pinned_layout(self) -> _layout.Layout | None:
        return None if self.layout == LAYOUT_AUTO else _layout.get_layout(self.layout)


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
    _check_endpoint(section, "endpoint", endpoint)
    interfaces = section.string_list("interfaces", [])
    for index, name in enumerate(interfaces):
        if not name or len(name.encode()) >= _layout.IFNAME_SIZE or "/" in name or name.strip() != name:
            raise ConfigError(f"{section.key_path('interfaces')}[{index}]", f"{name!r} is not an interface name")
    timeout = section.number("handshake_timeout", DEFAULT_HANDSHAKE_TIMEOUT, minimum=0.001)
    return IngestConfig(
        endpoint=endpoint,
        max_message_size=section.integer("max_message_size", DEFAULT_MAX_MESSAGE_SIZE,
                                         minimum=_layout.DEFAULT.size, maximum=MAX_MESSAGE_SIZE_LIMIT),
        handshake_timeout=float(timeout),
        layout=section.choice("layout", LAYOUT_CHOICES, LAYOUT_AUTO),
        interfaces=tuple(interfaces),
        accept_unmanaged=section.boolean("accept_unmanaged", False),
        apply_to_interface=section.boolean("apply_to_interface", False),
    )
