# -*- test-case-name: tests.unit.test_ingest_router -*-
"""
Routing by version, the managed-interface filter, and the counters.
"""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dhcpsuite.ingest import layout, pluginmsg, router
from dhcpsuite.ingest.checks import LeaseRefused
from dhcpsuite.ingest.router import MessageRouter
from dhcpsuite.leases.registry import RegistryFull
from dhcpsuite.interfaces import IPluginMessageHandler
from tests.unit.test_ingest_layout import build


@implementer(IPluginMessageHandler)
class FakeHandler:
    def __init__(self, outcome="updated", error=None):
        self.messages = []
        self.outcome = outcome
        self.error = error

    def handle_message(self, message):
        self.messages.append(message)
        if self.error:
            raise self.error
        return self.outcome


class RouterTests(SynchronousTestCase):
    def setUp(self):
        self.v4 = FakeHandler()
        self.v6 = FakeHandler("renewed")
        for handler in (self.v4, self.v6):
            verifyObject(IPluginMessageHandler, handler)
        self.router = MessageRouter({0: self.v4, 1: self.v6}, managed=["erouter0"])

    def test_routes_by_version(self):
        self.router.message_received(build("x86_64", 0, "erouter0", {}))
        self.router.message_received(build("ilp32-nomape", 1, "erouter0", {}))
        self.assertEqual([m.version for m in self.v4.messages], [0])
        self.assertEqual([m.layout for m in self.v6.messages], ["ilp32-nomape"])
        self.assertEqual(self.router.counters, {
            "messages": 2, "accepted.v4": 1, "accepted.v6": 1, "outcome.v4.updated": 1,
            "outcome.v6.renewed": 1, "layout.x86_64": 1, "layout.ilp32-nomape": 1,
        })

    def test_offset_and_size(self):
        message = build("x86_64", 0, "erouter0", {})
        self.router.message_received(b"xx" + message + b"yy", 2, len(message))
        self.assertEqual(len(self.v4.messages), 1)

    def test_unmanaged_rejected_by_default(self):
        self.router.message_received(build("x86_64", 0, "eth9", {}))
        self.assertEqual(self.v4.messages, [])
        self.assertEqual(self.router.counters["rejected.unmanaged-interface"], 1)

    def test_accept_unmanaged(self):
        accepting = MessageRouter({0: self.v4, 1: self.v6}, accept_unmanaged=True)
        accepting.message_received(build("x86_64", 0, "eth9", {}))
        self.assertEqual(len(self.v4.messages), 1)

    def test_rejections_counted(self):
        bad_version = bytearray(build("x86_64", 0, "erouter0", {}))
        bad_version[32] = 2
        for data in (b"short", bytes(bad_version), build("x86_64", 0, "erouter0", {"address": "1.2.3.999"}),
                     build("x86_64", 0, "", {})):
            self.router.message_received(data)
        self.assertEqual(self.v4.messages, [])
        counters = self.router.counters
        self.assertEqual(
            [counters[f"rejected.{r}"] for r in ("unknown-size", "unknown-version", "bad-address", "empty-ifname")],
            [1, 1, 1, 1])
        self.assertEqual(counters["messages"], 4)

    def test_pinned_layout(self):
        pinned = MessageRouter({0: self.v4}, managed=["erouter0"], layout=layout.get_layout("x86_64-nomape"))
        pinned.message_received(build("x86_64", 0, "erouter0", {}))
        pinned.message_received(build("x86_64-nomape", 0, "erouter0", {}))
        self.assertEqual(pinned.counters["rejected.unknown-size"], 1)
        self.assertEqual(len(self.v4.messages), 1)

    def test_handler_error_counted_not_raised(self):
        broken = MessageRouter({0: FakeHandler(error=RuntimeError("bug"))}, accept_unmanaged=True)
        broken.message_received(build("x86_64", 0, "e", {}))
        self.assertEqual(broken.counters["rejected.handler-error"], 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_refusals_counted_by_reason(self):
        """
        A lease the handler refuses (a check, or a full registry) is a
        rejection with that reason, not a handler error.
        """
        for error, counter in ((LeaseRefused("mtu-too-small", "MTU 68"), "rejected.mtu-too-small"),
                               (RegistryFull("full"), "rejected.registry-full")):
            refusing = MessageRouter({0: FakeHandler(error=error)}, accept_unmanaged=True)
            refusing.message_received(build("x86_64", 0, "e", {}))
            refusing.message_received(build("x86_64", 0, "e", {}))
            counters = refusing.counters
            self.assertEqual((counters[counter], counters["rejected.handler-error"], counters["messages"]), (2, 0, 2))

    def test_rejections_logged_with_limit(self):
        events = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        for _ in range(router.LOG_EVERY):
            self.router.message_received(b"bad")
        logged = [e for e in events if e.get("reason") == "unknown-size"]
        self.assertEqual([e["count"] for e in logged], list(range(1, router.LOG_FIRST + 1)) + [router.LOG_EVERY])

    def test_repeated_message_decoded_once_counted_each_time(self):
        """
        A repeat of an interface's previous message reaches the handler as
        the same record without a second decode, and counts like any other
        message; a message differing in one byte is decoded again.
        """
        decodes = []
        real = pluginmsg.decode

        def counting(*args):
            decodes.append(args)
            return real(*args)

        self.patch(pluginmsg, "decode", counting)
        repeating = MessageRouter({0: self.v4, 1: self.v6}, managed=["erouter0"])
        message = build("x86_64", 0, "erouter0", {"leaseTime": 3600})
        for _ in range(3):
            repeating.message_received(b"\0" * 8 + message, 8, len(message))
        changed = build("x86_64", 0, "erouter0", {"leaseTime": 3601})
        repeating.message_received(changed)
        self.assertEqual(len(decodes), 2)
        self.assertEqual([m.lease_time for m in self.v4.messages], [3600, 3600, 3600, 3601])
        self.assertIs(self.v4.messages[1], self.v4.messages[0])
        self.assertEqual(repeating.counters, {
            "messages": 4, "accepted.v4": 4, "outcome.v4.updated": 4, "layout.x86_64": 4,
        })

    def test_repeated_bad_message_rejected_each_time(self):
        bad = build("x86_64", 0, "erouter0", {"address": "1.2.3.999"})
        for _ in range(3):
            self.router.message_received(bad)
        self.assertEqual(self.router.counters["rejected.bad-address"], 3)
        self.assertEqual(self.v4.messages, [])

    def test_repeated_unmanaged_message_rejected_each_time(self):
        message = build("x86_64", 0, "eth9", {})
        for _ in range(3):
            self.router.message_received(message)
        self.assertEqual(self.router.counters["rejected.unmanaged-interface"], 3)
