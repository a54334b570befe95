# -*- test-case-name: tests.unit.test_ingest_router -*-
"""
What happens to one framed message (pure): decode, check the interface is
managed, route by DHCP version to its L{IPluginMessageHandler}, count.

RDK-B's lease monitor does the same (size check, "Invalid Message version",
C{DHCPMgr_AddDhcpv4Lease}/C{AddDhcpv6Lease}); here a bad message is
rejected with a reason, logged once and counted, and nothing else stops.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from twisted.logger import Logger

from dhcpsuite.ingest.layout import VERSION_V4, VERSION_V6, Layout
from dhcpsuite.ingest.pluginmsg import DecodeError, decode

REASON_UNMANAGED = "unmanaged-interface"
REASON_HANDLER_ERROR = "handler-error"

# A flood of bad messages must not flood the log: the first few of each
# reason are logged, then one line per this many.
LOG_FIRST = 5
LOG_EVERY = 1000


class MessageRouter:
    """
    @param handlers: the L{IPluginMessageHandler} for each version
        (L{VERSION_V4}, L{VERSION_V6}).
    @param managed: the interfaces whose leases are accepted.
    @param accept_unmanaged: accept every interface (RDK-B rejects a lease
        for an interface that has no enabled client).
    @param layout: pin the C{PLUGIN_MSG} layout, or L{None} to choose by size.
    @param counters: where to count (shared with the factory and service):
        C{messages}; C{accepted.v4|v6}; C{outcome.v4|v6.<outcome>};
        C{layout.<name>}; C{rejected.<reason>}.
    """

    log = Logger()

    def __init__(self, handlers: dict, managed: Iterable[str] = (), accept_unmanaged: bool = False,
                 layout: Layout | None = None, counters: Counter | None = None) -> None:
        self._handlers = dict(handlers)
        self._managed = frozenset(managed)
        self._accept_unmanaged = accept_unmanaged
        self._layout = layout
        self.counters = Counter() if counters is None else counters
        self._accepted_keys = {VERSION_V4: "accepted.v4", VERSION_V6: "accepted.v6"}
        self._outcome_prefix = {VERSION_V4: "outcome.v4.", VERSION_V6: "outcome.v6."}

    def message_received(self, data, offset: int = 0, size: int | None = None) -> None:
        """
        Handle one message held in C{data[offset:offset + size]}. Never raises.
        """
        counters = self.counters
        counters["messages"] += 1
        try:
            message = decode(data, offset, size, self._layout)
        except DecodeError as e:
            self._reject(e.reason, e.detail)
            return
        except Exception as e:  # a decoder bug must not take the connection down
            self.log.failure("Decoding a lease message failed")
            self._reject("decode-error", repr(e))
            return
        ifname = message.ifname
        if not self._accept_unmanaged and ifname not in self._managed:
            self._reject(REASON_UNMANAGED, f"{ifname!r} is not a managed interface")
            return
        version = message.version
        try:
            outcome = self._handlers[version].handle_message(message)
        except Exception:
            self.log.failure("Lease handler failed on a message for {ifname}", ifname=ifname)
            counters["rejected." + REASON_HANDLER_ERROR] += 1
            return
        counters[self._accepted_keys[version]] += 1
        counters[self._outcome_prefix[version] + outcome] += 1
        counters["layout." + message.layout] += 1

    def _reject(self, reason: str, detail: str) -> None:
        key = "rejected." + reason
        count = self.counters[key] + 1
        self.counters[key] = count
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            self.log.warn("Lease message rejected ({reason}: {detail}; {count} so far)",
                          reason=reason, detail=detail, count=count)
