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

from dhcpsuite.ingest.checks import LeaseRefused
from dhcpsuite.ingest.layout import VERSION_V4, Layout
from dhcpsuite.ingest.pluginmsg import PluginMessageError, RepeatDecoder
from dhcpsuite.leases.registry import RegistryFull

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
    """

    log = Logger()

    def __init__(self, handlers: dict, managed: Iterable[str] = (), accept_unmanaged: bool = False,
                 layout: Layout | None = None) -> None:
        self._handlers = dict(handlers)
        self._managed = frozenset(managed)
        self._accept_unmanaged = accept_unmanaged
        # A renewal repeating an interface's previous message is not decoded again.
        self._decode = RepeatDecoder(layout).decode
        # One increment per message, keyed (version, outcome, layout name);
        # the flat names are made only when someone reads L{counters}. A
        # plain dict: a Counter's subscript (a dict subclass) costs twice as much.
        self._accepted: dict[tuple, int] = {}
        self._rejected: Counter = Counter()

    def set_managed(self, managed: Iterable[str], accept_unmanaged: bool) -> None:
        """
        A reload changed the managed interfaces (a lease already recorded
        for one no longer managed stays until it expires or is replaced).
        """
        self._managed = frozenset(managed)
        self._accept_unmanaged = accept_unmanaged

    @property
    def counters(self) -> Counter:
        """
        C{messages}; C{accepted.v4|v6}; C{outcome.v4|v6.<outcome>};
        C{layout.<name>}; C{rejected.<reason>} (a new L{Counter} at each
        read: an absent name reads as 0).
        """
        flat: Counter = Counter()
        for (version, outcome, layout_name), count in self._accepted.items():
            family = "v4" if version == VERSION_V4 else "v6"
            flat[f"accepted.{family}"] += count
            flat[f"outcome.{family}.{outcome}"] += count
            flat[f"layout.{layout_name}"] += count
        for reason, count in self._rejected.items():
            flat[f"rejected.{reason}"] = count
        flat["messages"] = sum(self._accepted.values()) + sum(self._rejected.values())
        return flat

    def message_received(self, data, offset: int = 0, size: int | None = None) -> None:
        """
        Handle one message held in C{data[offset:offset + size]}. Never raises.
        """
        try:
            message = self._decode(data, offset, size)
        except PluginMessageError as e:
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
        except LeaseRefused as e:
            self._reject(e.reason, f"{ifname!r}: {e.detail}")
            return
        except RegistryFull as e:
            self._reject(RegistryFull.reason, f"{ifname!r} not recorded: {e}")
            return
        except Exception:
            self.log.failure("Lease handler failed on a message for {ifname}", ifname=ifname)
            self._rejected[REASON_HANDLER_ERROR] += 1
            return
        key = (version, outcome, message.layout)
        accepted = self._accepted
        accepted[key] = accepted.get(key, 0) + 1

    def _reject(self, reason: str, detail: str) -> None:
        count = self._rejected[reason] + 1
        self._rejected[reason] = count
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            self.log.warn("Lease message rejected ({reason}: {detail}; {count} so far)",
                          reason=reason, detail=detail, count=count)
