# -*- test-case-name: tests.unit.test_ingest_handlers -*-
"""
The v4/v6 lease handlers: RDK-B's update / renew / delete semantics, the v6
merge and stale-prefix rules, the registry they write and what they apply.
"""

from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network

import attrs
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.ingest import handlers
from dhcpsuite.ingest.checks import LeaseRefused
from dhcpsuite.ingest.handlers import V4LeaseHandler, V6LeaseHandler, merge_v6
from dhcpsuite.ingest.pluginmsg import IAPD, decode
from dhcpsuite.interfaces import IInterfaceConfigurator, ILeaseListener, IPluginMessageHandler
from dhcpsuite.leases.registry import FAMILY_V4, FAMILY_V6, LeaseRegistry, RecordingLeaseListener, RegistryFull
from dhcpsuite.netlink.testing import RecordingConfigurator
from tests.unit.test_ingest_layout import build
from tests.unit.test_ingest_pluginmsg import v4_lease, v6_lease


def expired4(ifname="erouter0", state="deconfig"):
    return decode(build("x86_64", 0, ifname, {"isExpired": 1, "ifname": ifname, "dhcpState": state}))


class Fixture:
    def setUp(self):
        self.now = [1000.0]
        self.registry = LeaseRegistry(now=lambda: self.now[0])
        self.listener = RecordingLeaseListener()
        verifyObject(ILeaseListener, self.listener)
        self.registry.add_listener(self.listener)
        self.configurator = RecordingConfigurator()
        verifyObject(IInterfaceConfigurator, self.configurator)

    def causes(self):
        return [(c.interface, c.family, c.cause, c.old is not None, c.new is not None) for c in self.listener.changes]


class V4Tests(Fixture, SynchronousTestCase):
    def setUp(self):
        Fixture.setUp(self)
        self.handler = V4LeaseHandler(self.registry, self.configurator)
        verifyObject(IPluginMessageHandler, self.handler)

    def test_new_lease_updates_registry_and_applies(self):
        lease = v4_lease(mtu=None)
        self.assertEqual(self.handler.handle_message(lease), handlers.OUTCOME_UPDATED)
        entry = self.registry.current("erouter0", FAMILY_V4)
        self.assertEqual((entry.lease, entry.learned_at, entry.cause), (lease, 1000.0, "updated"))
        self.assertEqual(self.causes(), [("erouter0", 4, "updated", False, True)])
        self.assertEqual(self.configurator.calls, [
            ("add_address", {"ifname": "erouter0", "interface": IPv4Interface("10.0.0.5/24"),
                             "broadcast": IPv4Address("10.0.0.255"), "valid_lifetime": None,
                             "preferred_lifetime": None}),
            ("set_mtu", {"ifname": "erouter0", "mtu": 1500}),
            ("add_route", {"destination": IPv4Network("0.0.0.0/0"), "gateway": IPv4Address("10.0.0.1"),
                           "ifname": "erouter0", "metric": 0, "table": None, "source": None}),
            ("add_route", {"destination": IPv4Network("0.0.0.0/0"), "gateway": IPv4Address("10.0.0.2"),
                           "ifname": "erouter0", "metric": 1, "table": None, "source": None}),
        ])

    def test_mtu_from_lease(self):
        self.handler.handle_message(v4_lease(mtu=1492))
        self.assertEqual(self.configurator.calls_to("set_mtu"), [{"ifname": "erouter0", "mtu": 1492}])

    def test_unchanged_is_renewal(self):
        """
        Same address/mask/routers/DNS: a renewal; the new times are recorded
        and nothing is re-applied.
        """
        self.handler.handle_message(v4_lease())
        self.configurator.reset()
        self.now[0] = 2000.0
        renewed = v4_lease(state="renew", lease_time=7200, hostname="other")
        self.assertEqual(self.handler.handle_message(renewed), handlers.OUTCOME_RENEWED)
        entry = self.registry.current("erouter0", FAMILY_V4)
        self.assertEqual((entry.lease.lease_time, entry.learned_at, entry.cause), (7200, 2000.0, "renewed"))
        self.assertEqual(self.configurator.calls, [])
        self.assertEqual(self.causes()[-1], ("erouter0", 4, "renewed", True, True))

    def test_same_record_again_is_renewal_stamped_now(self):
        """
        The very record already current (what a repeated message decodes
        to) is a renewal: recorded again with the time it came, told to
        listeners, nothing re-applied.
        """
        lease = decode(build("x86_64", 0, "erouter0", {
            "addressAssigned": 1, "address": "10.0.0.5", "netmask": "255.255.255.0", "dhcpState": "renew"}))
        self.assertEqual(self.handler.handle_message(lease), handlers.OUTCOME_UPDATED)
        self.configurator.reset()
        for now in (2000.0, 3000.0):
            self.now[0] = now
            self.assertEqual(self.handler.handle_message(lease), handlers.OUTCOME_RENEWED)
            entry = self.registry.current("erouter0", FAMILY_V4)
            self.assertEqual((entry.lease, entry.learned_at, entry.cause), (lease, now, "renewed"))
        self.assertEqual(self.causes(), [("erouter0", 4, "updated", False, True)]
                         + [("erouter0", 4, "renewed", True, True)] * 2)
        self.assertEqual(self.configurator.calls, [])

    def test_changed_fields(self):
        """
        Each compared field makes an update; the old address and routes go.
        """
        for change in ({"address": IPv4Address("10.0.0.6")}, {"netmask": IPv4Address("255.255.0.0")},
                       {"routers": (IPv4Address("10.0.0.3"),)}, {"dns_servers": ()}):
            registry = LeaseRegistry()
            configurator = RecordingConfigurator()
            handler = V4LeaseHandler(registry, configurator)
            handler.handle_message(v4_lease())
            configurator.reset()
            self.assertEqual(handler.handle_message(v4_lease(**change)), handlers.OUTCOME_UPDATED, change)
            self.assertEqual(registry.lease("erouter0", FAMILY_V4), v4_lease(**change))
            methods = [name for name, _ in configurator.calls]
            if "address" in change or "netmask" in change:
                self.assertIn("remove_address", methods)
            if "dns_servers" in change:
                self.assertNotIn("remove_route", methods)

    def test_expired_clears(self):
        """
        Unlike RDK-B, an expiry clears the registry (and unapplies).
        """
        self.handler.handle_message(v4_lease())
        self.configurator.reset()
        self.assertEqual(self.handler.handle_message(expired4()), handlers.OUTCOME_DELETED)
        self.assertIsNone(self.registry.current("erouter0", FAMILY_V4))
        self.assertEqual(self.causes()[-1], ("erouter0", 4, "expired", True, False))
        self.assertEqual([name for name, _ in self.configurator.calls],
                         ["remove_route", "remove_route", "remove_address"])
        self.assertEqual(self.configurator.calls_to("remove_address"),
                         [{"ifname": "erouter0", "interface": IPv4Interface("10.0.0.5/24")}])

    def test_expiry_without_lease_ignored(self):
        """
        udhcpc's deconfig at start-up, or a repeated expiry: nothing to do.
        """
        self.assertEqual(self.handler.handle_message(expired4()), handlers.OUTCOME_IGNORED)
        self.handler.handle_message(v4_lease())
        self.handler.handle_message(expired4(state="leasefail"))
        self.assertEqual(self.handler.handle_message(expired4()), handlers.OUTCOME_IGNORED)
        self.assertEqual([c.cause for c in self.listener.changes], ["updated", "expired"])

    def test_per_message_change_detection(self):
        """
        RDK-B's batch bug is not copied: after a change, an identical lease
        is a renewal, not another change.
        """
        outcomes = [self.handler.handle_message(lease)
                    for lease in (v4_lease(), v4_lease(address=IPv4Address("10.0.0.9")),
                                  v4_lease(address=IPv4Address("10.0.0.9")))]
        self.assertEqual(outcomes, ["updated", "updated", "renewed"])

    def test_unassigned_not_expired_ignored(self):
        lease = v4_lease(address_assigned=False)
        self.assertEqual(self.handler.handle_message(lease), handlers.OUTCOME_IGNORED)
        self.assertEqual(self.registry.snapshot(), {})

    def test_interfaces_independent(self):
        self.handler.handle_message(v4_lease())
        self.handler.handle_message(v4_lease(ifname="wan1"))
        self.handler.handle_message(expired4("wan1"))
        self.assertEqual(self.registry.interfaces(), ["erouter0"])

    def test_without_configurator_only_records(self):
        handler = V4LeaseHandler(self.registry)
        self.assertEqual(handler.handle_message(v4_lease()), "updated")
        self.assertEqual(handler.handle_message(expired4()), "deleted")

    def test_apply_failure_is_logged_not_raised(self):
        self.configurator.fail("add_address", 17, "boom")
        self.assertEqual(self.handler.handle_message(v4_lease()), "updated")
        self.assertEqual(len(self.flushLoggedErrors()), 1)

    def test_other_writers_record_left_alone(self):
        """
        A record of another type (our DHCP client's) is not ours to clear.
        """
        self.registry.set_lease("erouter0", FAMILY_V4, object(), "bound")
        self.assertEqual(self.handler.handle_message(expired4()), "ignored")
        self.assertIsNotNone(self.registry.current("erouter0", FAMILY_V4))


class V6Tests(Fixture, SynchronousTestCase):
    def setUp(self):
        Fixture.setUp(self)
        self.handler = V6LeaseHandler(self.registry, self.configurator)
        verifyObject(IPluginMessageHandler, self.handler)

    def test_new_lease(self):
        lease = v6_lease()
        self.assertEqual(self.handler.handle_message(lease), "updated")
        self.assertEqual(self.registry.lease("erouter0", FAMILY_V6), lease)
        self.assertEqual(self.configurator.calls, [
            ("add_address", {"ifname": "erouter0", "interface": IPv6Interface("2001:db8::5/128"), "broadcast": None,
                             "valid_lifetime": 200, "preferred_lifetime": 100}),
        ])

    def test_forever_lifetimes(self):
        for value in (0, 0xFFFFFFFF):
            configurator = RecordingConfigurator()
            handler = V6LeaseHandler(LeaseRegistry(), configurator)
            lease = v6_lease()
            handler.handle_message(attrs.evolve(lease, ia_na=attrs.evolve(
                lease.ia_na, valid_lifetime=value, preferred_lifetime=value)))
            call = configurator.calls_to("add_address")[0]
            self.assertEqual((call["valid_lifetime"], call["preferred_lifetime"]), (None, None))

    def test_renewal_ignores_lifetimes(self):
        lease = v6_lease()
        self.handler.handle_message(lease)
        self.configurator.reset()
        longer = attrs.evolve(lease, ia_pd=attrs.evolve(lease.ia_pd, valid_lifetime=9999, t1=1))
        self.assertEqual(self.handler.handle_message(longer), "renewed")
        self.assertEqual(self.registry.lease("erouter0", FAMILY_V6).ia_pd.valid_lifetime, 9999)
        self.assertEqual(self.configurator.calls, [])

    def test_merge_keeps_missing_na_and_pd(self):
        """
        An update lacking IA_NA keeps the current IA_NA; one lacking IA_PD
        keeps the current IA_PD with its MAP-T and MAP-E.
        """
        full = v6_lease()
        self.handler.handle_message(full)
        pd_only = v6_lease(ia_na=None, aftr="new.aftr")
        self.assertEqual(self.handler.handle_message(pd_only), "updated")
        current = self.registry.lease("erouter0", FAMILY_V6)
        self.assertEqual((current.ia_na, current.aftr), (full.ia_na, "new.aftr"))
        na_only = v6_lease(ia_pd=None, mapt=None, mape=None, aftr="new.aftr")
        self.assertEqual(self.handler.handle_message(na_only), "renewed")
        current = self.registry.lease("erouter0", FAMILY_V6)
        self.assertEqual((current.ia_pd, current.mapt, current.mape), (full.ia_pd, "mt", "me"))

    def test_merge_function(self):
        current = v6_lease()
        self.assertIs(merge_v6(None, current), current)
        self.assertIs(merge_v6(current, current), current)
        bare = v6_lease(ia_na=None, ia_pd=None, mapt=None, mape=None)
        self.assertEqual(merge_v6(current, bare), attrs.evolve(bare, ia_na=current.ia_na, ia_pd=current.ia_pd,
                                                                 mapt="mt", mape="me"))

    def test_expired_deletes(self):
        self.handler.handle_message(v6_lease())
        self.configurator.reset()
        self.assertEqual(self.handler.handle_message(v6_lease(expired=True)), "deleted")
        self.assertIsNone(self.registry.current("erouter0", FAMILY_V6))
        self.assertEqual(self.configurator.calls_to("remove_address"),
                         [{"ifname": "erouter0", "interface": IPv6Interface("2001:db8::5/128")}])
        self.assertEqual(self.causes()[-1], ("erouter0", 6, "expired", True, False))

    def test_stale_prefix_delete_ignored(self):
        """
        A delete for a prefix that is no longer current (or of another
        length) is ignored.
        """
        self.handler.handle_message(v6_lease())
        for prefix in ("2001:db8:200::/56", "2001:db8:100::/48"):
            stale = v6_lease(expired=True, ia_pd=IAPD(IPv6Network(prefix), 2))
            self.assertEqual(self.handler.handle_message(stale), "stale")
        self.assertIsNotNone(self.registry.current("erouter0", FAMILY_V6))
        same = v6_lease(expired=True, ia_pd=IAPD(IPv6Network("2001:db8:100::/56")))
        self.assertEqual(self.handler.handle_message(same), "deleted")

    def test_expiry_without_prefix_deletes(self):
        self.handler.handle_message(v6_lease())
        self.assertEqual(self.handler.handle_message(v6_lease(expired=True, ia_pd=None)), "deleted")

    def test_expiry_without_lease_ignored(self):
        self.assertEqual(self.handler.handle_message(v6_lease(expired=True)), "ignored")
        self.assertEqual(self.listener.changes, [])

    def test_same_record_again_is_renewal_stamped_now(self):
        lease = v6_lease()
        self.assertEqual(self.handler.handle_message(lease), handlers.OUTCOME_UPDATED)
        self.configurator.reset()
        self.now[0] = 2000.0
        self.assertEqual(self.handler.handle_message(lease), handlers.OUTCOME_RENEWED)
        entry = self.registry.current("erouter0", FAMILY_V6)
        self.assertEqual((entry.lease, entry.learned_at, entry.cause), (lease, 2000.0, "renewed"))
        self.assertEqual(self.configurator.calls, [])

    def test_changed_fields(self):
        for change in ({"dns_servers": ()}, {"domain_name": "y"}, {"ntp_servers": ()}, {"aftr": ""},
                       {"mapt": None}, {"mape": "other"}):
            handler = V6LeaseHandler(LeaseRegistry())
            handler.handle_message(v6_lease())
            self.assertEqual(handler.handle_message(v6_lease(**change)), "updated", change)

    def test_na_address_change_removes_old(self):
        self.handler.handle_message(v6_lease())
        self.configurator.reset()
        lease = v6_lease()
        moved = attrs.evolve(lease, ia_na=attrs.evolve(lease.ia_na, address=IPv6Address("2001:db8::6")))
        self.assertEqual(self.handler.handle_message(moved), "updated")
        self.assertEqual([name for name, _ in self.configurator.calls], ["remove_address", "add_address"])

    def test_nothing_assigned_first_is_update_then_ignored(self):
        bare = v6_lease(ia_na=None, ia_pd=None)
        self.assertEqual(self.handler.handle_message(bare), "updated")
        self.assertEqual(self.handler.handle_message(bare), "ignored")


class RefusalTests(Fixture, SynchronousTestCase):
    """
    With a configurator (apply_to_interface), a lease the checks refuse is
    neither applied nor recorded, and the current one stays; without one,
    the registry records what the client reported (nothing is applied, so
    there is nothing to check).
    """

    def test_v4_refused_before_anything_is_done(self):
        handler = V4LeaseHandler(self.registry, self.configurator)
        handler.handle_message(v4_lease())
        self.configurator.reset()
        for hostile in (v4_lease(address=IPv4Address("224.0.0.1")), v4_lease(mtu=68),
                        v4_lease(routers=(IPv4Address("0.0.0.0"),)),
                        v4_lease(routers=(IPv4Address("192.0.2.1"),))):
            self.assertRaises(LeaseRefused, handler.handle_message, hostile)
        self.assertEqual(self.configurator.calls, [])
        self.assertEqual(self.registry.lease("erouter0", FAMILY_V4), v4_lease())

    def test_v6_refused(self):
        handler = V6LeaseHandler(self.registry, self.configurator)
        lease = v6_lease(ia_na=attrs.evolve(v6_lease().ia_na, address=IPv6Address("ff02::1")))
        self.assertRaises(LeaseRefused, handler.handle_message, lease)
        self.assertEqual((self.configurator.calls, self.registry.snapshot()), ([], {}))

    def test_recorded_unchecked_without_configurator(self):
        handler = V4LeaseHandler(self.registry)
        self.assertEqual(handler.handle_message(v4_lease(mtu=68)), handlers.OUTCOME_UPDATED)


class UnmanagedLimitTests(Fixture, SynchronousTestCase):
    def test_unmanaged_interfaces_bounded_managed_always_taken(self):
        v4 = V4LeaseHandler(self.registry, None, managed=("erouter0",), max_unmanaged=2)
        v6 = V6LeaseHandler(self.registry, None, managed=("erouter0",), max_unmanaged=2)
        v4.handle_message(v4_lease(ifname="u1"))
        v6.handle_message(v6_lease(ifname="u2"))
        self.assertRaises(RegistryFull, v4.handle_message, v4_lease(ifname="u3"))
        v6.handle_message(v6_lease(ifname="u1"))  # the other family of a held interface
        v4.handle_message(v4_lease(ifname="erouter0"))
        v4.handle_message(v4_lease(ifname="u2", state="renew"))
        self.assertEqual(self.registry.interfaces(), ["erouter0", "u1", "u2"])
        # An expiry frees the place.
        v6.handle_message(v6_lease(ifname="u2", expired=True))
        v4.handle_message(v4_lease(ifname="u2", expired=True))
        v4.handle_message(v4_lease(ifname="u3"))
        self.assertEqual(self.registry.interfaces(), ["erouter0", "u1", "u3"])
