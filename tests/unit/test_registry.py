# -*- test-case-name: tests.unit.test_registry -*-
"""
The lease registry: per-interface v4/v6 leases, learned times, listeners.
"""

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dhcpsuite.interfaces import ILeaseListener
from dhcpsuite.leases.registry import (
    FAMILY_V4, FAMILY_V6, LeaseChange, LeaseRegistry, RecordingLeaseListener, RegistryEntry, RegistryFull,
)


@implementer(ILeaseListener)
class BrokenListener:
    def lease_changed(self, change):
        raise RuntimeError("listener bug")


class RegistryTests(SynchronousTestCase):
    def setUp(self):
        self.time = [10.0]
        self.registry = LeaseRegistry(now=lambda: self.time[0])
        self.listener = RecordingLeaseListener()
        verifyObject(ILeaseListener, self.listener)
        self.registry.add_listener(self.listener)

    def test_no_required_arguments(self):
        self.assertEqual(LeaseRegistry().snapshot(), {})

    def test_set_and_current(self):
        entry = self.registry.set_lease("wan0", FAMILY_V4, "lease-a", "updated")
        self.assertEqual(entry, RegistryEntry("wan0", FAMILY_V4, "lease-a", 10.0, "updated"))
        self.assertEqual(self.registry.current("wan0", FAMILY_V4), entry)
        self.assertIsNone(self.registry.current("wan0", FAMILY_V6))
        self.assertEqual(self.registry.lease("wan0", FAMILY_V4), "lease-a")
        self.assertIsNone(self.registry.lease("lan0", FAMILY_V4))

    def test_listeners_told_of_every_change(self):
        self.registry.set_lease("wan0", FAMILY_V4, "a", "updated")
        self.time[0] = 20.0
        self.registry.set_lease("wan0", FAMILY_V4, "a2", "renewed")
        self.registry.set_lease("wan0", FAMILY_V6, "b", "updated")
        self.assertTrue(self.registry.clear_lease("wan0", FAMILY_V4, "expired"))
        self.assertFalse(self.registry.clear_lease("wan0", FAMILY_V4, "expired"))
        self.assertEqual(self.listener.changes, [
            LeaseChange("wan0", 4, None, "a", "updated"),
            LeaseChange("wan0", 4, "a", "a2", "renewed"),
            LeaseChange("wan0", 6, None, "b", "updated"),
            LeaseChange("wan0", 4, "a2", None, "expired"),
        ])
        self.assertEqual(self.registry.current("wan0", FAMILY_V6).learned_at, 20.0)

    def test_snapshot_is_a_copy(self):
        self.registry.set_lease("wan0", FAMILY_V4, "a", "updated")
        self.registry.set_lease("wan1", FAMILY_V6, "b", "updated")
        snapshot = self.registry.snapshot()
        self.registry.clear_lease("wan0", FAMILY_V4, "expired")
        self.assertEqual(sorted(snapshot), [("wan0", 4), ("wan1", 6)])
        self.assertEqual(self.registry.interfaces(), ["wan1"])

    def test_bad_family(self):
        self.assertRaises(ValueError, self.registry.set_lease, "wan0", 5, "x", "updated")
        self.assertRaises(ValueError, self.registry.clear_lease, "wan0", "v4", "expired")

    def test_broken_listener_does_not_stop_others(self):
        registry = LeaseRegistry()
        later = RecordingLeaseListener()
        registry.add_listener(BrokenListener())
        registry.add_listener(later)
        registry.set_lease("wan0", FAMILY_V4, "a", "updated")
        self.assertEqual(len(later.changes), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_add_twice_remove(self):
        self.registry.add_listener(self.listener)
        self.registry.set_lease("wan0", FAMILY_V4, "a", "updated")
        self.assertEqual(len(self.listener.changes), 1)
        self.registry.remove_listener(self.listener)
        self.registry.remove_listener(self.listener)
        self.registry.set_lease("wan0", FAMILY_V4, "b", "updated")
        self.assertEqual(len(self.listener.changes), 1)


class LimitTests(SynchronousTestCase):
    """
    A writer that may name any interface (ingest with accept_unmanaged)
    writes under a limit: 20,000 made-up names once cost 46 MB and a 0.9 s
    status page. New interfaces beyond it are refused; held leases are never
    evicted for them.
    """

    def test_new_interfaces_refused_beyond_the_limit(self):
        registry = LeaseRegistry()
        for index in range(3):
            registry.set_lease(f"u{index}", FAMILY_V4, index, "updated", limit=3)
        refused = 0
        for index in range(3, 20000):
            try:
                registry.set_lease(f"u{index}", FAMILY_V4, index, "updated", limit=3)
            except RegistryFull:
                refused += 1
        self.assertEqual((refused, registry.interfaces()), (19997, ["u0", "u1", "u2"]))
        # Held interfaces keep being written, in either family.
        registry.set_lease("u0", FAMILY_V4, "renewed", "renewed", limit=3)
        registry.set_lease("u1", FAMILY_V6, "v6", "updated", limit=3)
        # A writer without a limit (our own client) is not counted or refused.
        registry.set_lease("erouter0", FAMILY_V4, "client", "BOUND")
        self.assertEqual(len(registry.snapshot()), 5)
        # Clearing an interface's last lease frees its place.
        registry.clear_lease("u1", FAMILY_V4, "expired")
        self.assertRaises(RegistryFull, registry.set_lease, "new", FAMILY_V4, 1, "updated", limit=3)
        registry.clear_lease("u1", FAMILY_V6, "expired")
        registry.set_lease("new", FAMILY_V4, 1, "updated", limit=3)
        self.assertEqual(registry.interfaces(), ["erouter0", "new", "u0", "u2"])

    def test_zero_takes_none(self):
        registry = LeaseRegistry()
        self.assertRaises(RegistryFull, registry.set_lease, "u", FAMILY_V4, 1, "updated", limit=0)
        self.assertEqual(registry.snapshot(), {})
