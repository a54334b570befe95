# -*- test-case-name: tests.unit.test_netlink_config -*-
"""
The C{[netlink]} section::

    [netlink]
    receive_buffer = 8388608   # bytes; SO_RCVBUFFORCE where permitted
    request_timeout = 5.0      # seconds for the kernel to answer a configurator request
    decoder = "fast"           # or "pyroute2"
    netns = "blue"             # optional: open the sockets in /run/netns/blue

    [netlink.resync]
    min_interval = 1.0         # seconds between re-dumps after overruns

    [netlink.readiness]
    debounce = 0.0             # seconds a readiness change must last before it is reported
"""

from __future__ import annotations

import attrs

from dhcpsuite.config import Section
from dhcpsuite.netlink.decode import DECODERS


@attrs.frozen
class NetlinkConfig:
    receive_buffer: int = 8 << 20
    request_timeout: float = 5.0
    decoder: str = "fast"
    netns: str | None = None
    resync_min_interval: float = 1.0
    debounce: float = 0.0


def parse_netlink_config(section: Section) -> NetlinkConfig:
    defaults = NetlinkConfig()
    receive_buffer = section.integer("receive_buffer", defaults.receive_buffer, minimum=4096, maximum=1 << 30)
    request_timeout = section.number("request_timeout", defaults.request_timeout, minimum=0.001)
    decoder = section.choice("decoder", tuple(DECODERS), defaults.decoder)
    netns = section.string("netns", None)
    if netns is not None and not netns.strip():
        raise section.error("netns", "must name a namespace (or be left out)")
    resync = section.table("resync", None)
    min_interval = defaults.resync_min_interval
    if resync is not None:
        min_interval = resync.number("min_interval", min_interval, minimum=0.0)
        resync.finish()
    readiness = section.table("readiness", None)
    debounce = defaults.debounce
    if readiness is not None:
        debounce = readiness.number("debounce", debounce, minimum=0.0)
        readiness.finish()
    return NetlinkConfig(
        receive_buffer=receive_buffer,
        request_timeout=request_timeout,
        decoder=decoder,
        netns=netns,
        resync_min_interval=min_interval,
        debounce=debounce,
    )
