# -*- test-case-name: tests.unit.test_ingest_plugins -*-
"""
The udhcpc and dibbler plugins: the reference's event and environment
mappings (sections 4.1, 4.2), checked on the message bytes they would send.
"""

from ipaddress import IPv4Address, IPv6Address, IPv6Network

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.ingest import layout
from dhcpsuite.ingest.pluginmsg import IANA, IAPD, decode
from dhcpsuite.ingest.plugins import common, dibbler, udhcpc

UDHCPC_BOUND = {
    "interface": "erouter0", "ip": "10.0.0.5", "subnet": "255.255.255.0", "mask": "8",
    "router": "10.0.0.1 10.0.0.2", "dns": "8.8.8.8 1.1.1.1 9.9.9.9", "lease": "3600", "serverid": "10.0.0.1",
    "sipsrv": "sip.x", "staticroutes": "10.9.0.0/16 10.0.0.1", "timezone": "-18000", "opt122": "0104",
    "opt125": "0000", "bootfile": "boot.cfg", "siaddr": "10.0.0.9", "hostname": "cm", "domain": "isp.lan",
    "opt58": "00000708", "opt59": "00000c4e", "mtu": "1400",
}
DIBBLER_ADD = {
    "IFACE": "erouter0", "ADDR1": "2001:db8::5", "ADDR1IAID": "1", "ADDR1PREF": "100", "ADDR1VALID": "200",
    "ADDR1T1": "50", "ADDR1T2": "80", "PREFIX1": "2001:db8:100::", "PREFIX1LEN": "56", "PREFIX1IAID": "2",
    "PREFIX1PREF": "300", "PREFIX1VALID": "400", "PREFIX1T1": "150", "PREFIX1T2": "240",
    "SRV_OPTION23": "2001:db8::53 2001:db8::54", "SRV_OPTION24": "isp.lan", "SRV_OPTION31": "ntp.isp.lan",
    "SRV_OPTION64": "aftr.isp.lan", "SRV_OPTION95": "mapt-hex", "SRV_OPTION94": "mape-hex",
    "SRV_OPTION17": "vendor-hex",
}


class Sender:
    def __init__(self, ok=True):
        self.sent = []
        self.ok = ok

    def __call__(self, address, message):
        self.sent.append((address, message))
        return self.ok


def run(plugin, event, env, ok=True):
    sender = Sender(ok)
    status = plugin.main(["plugin", event] if event is not None else ["plugin"], env, push=sender)
    return status, sender.sent


class UdhcpcTests(SynchronousTestCase):
    def test_bound(self):
        status, sent = run(udhcpc, "bound", UDHCPC_BOUND)
        self.assertEqual(status, 0)
        [(address, message)] = sent
        self.assertEqual(address, "tcp://127.0.0.1:50324")
        self.assertEqual(len(message), 1720)
        lease = decode(message)
        self.assertEqual((lease.ifname, lease.inner_ifname, lease.state), ("erouter0", "erouter0", "bound"))
        self.assertEqual((lease.address_assigned, lease.expired), (True, False))
        self.assertEqual(lease.address, IPv4Address("10.0.0.5"))
        self.assertEqual(lease.netmask, IPv4Address("255.255.255.0"))  # from subnet, not mask
        self.assertEqual(lease.routers, (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")))
        # Only the first two DNS tokens fit.
        self.assertEqual(lease.dns_servers, (IPv4Address("8.8.8.8"), IPv4Address("1.1.1.1")))
        self.assertEqual((lease.lease_time, lease.renewal_time, lease.rebinding_time), (3600, 0x708, 0xC4E))
        self.assertEqual(lease.server_id, IPv4Address("10.0.0.1"))
        self.assertEqual((lease.sip_server, lease.static_routes), ("sip.x", "10.9.0.0/16 10.0.0.1"))
        self.assertEqual((lease.time_zone, lease.time_offset), ("-18000", None))
        self.assertEqual((lease.option122, lease.option125, lease.bootfile), ("0104", "0000", "boot.cfg"))
        self.assertEqual((lease.tftp_server, lease.hostname, lease.domain_name), ("10.0.0.9", "cm", "isp.lan"))
        self.assertIsNone(lease.mtu)  # env mtu is never read

    def test_renew_with_decimal_times_and_patched_names(self):
        env = dict(UDHCPC_BOUND, renewaltime="100", rebindingtime="200abc", timeoffset="-5",
                   upstreamrate="7", downstreamrate="8")
        env.pop("opt122")
        _, [(_, message)] = run(udhcpc, "renew", env)
        lease = decode(message)
        self.assertEqual((lease.state, lease.renewal_time, lease.rebinding_time), ("renew", 100, 200))
        self.assertEqual((lease.time_offset, lease.upstream_rate, lease.downstream_rate), (-5, 7, 8))
        self.assertIsNone(lease.option122)

    def test_expiry_events(self):
        """
        leasefail/deconfig: expired, unassigned, only the all-event fields.
        """
        for event in ("deconfig", "leasefail"):
            _, [(_, message)] = run(udhcpc, event, UDHCPC_BOUND)
            lease = decode(message)
            self.assertEqual((lease.expired, lease.address_assigned, lease.state), (True, False, event))
            self.assertEqual((lease.address, lease.routers, lease.lease_time, lease.hostname), (None, (), 0, ""))
            self.assertEqual((lease.server_id, lease.sip_server), (IPv4Address("10.0.0.1"), "sip.x"))

    def test_other_events_send_nothing(self):
        for event in ("nak", "", "leasefail2", None):
            self.assertEqual(run(udhcpc, event, UDHCPC_BOUND), (0, []))

    def test_address_and_layout_from_environment(self):
        env = dict(UDHCPC_BOUND, DHCPSUITE_INGEST_ADDRESS="tcp://127.0.0.1:5555",
                   DHCPSUITE_INGEST_LAYOUT="ilp32-nomape")
        _, [(address, message)] = run(udhcpc, "bound", env)
        self.assertEqual((address, len(message)), ("tcp://127.0.0.1:5555", 1456))
        self.assertEqual(decode(message).address, IPv4Address("10.0.0.5"))

    def test_failures_still_exit_zero(self):
        self.assertEqual(run(udhcpc, "bound", UDHCPC_BOUND, ok=False)[0], 0)
        self.assertEqual(run(udhcpc, "bound", dict(UDHCPC_BOUND, DHCPSUITE_INGEST_LAYOUT="sparc")), (0, []))
        self.assertEqual(udhcpc.main(["p", "bound"], dict(UDHCPC_BOUND, DHCPSUITE_INGEST_ADDRESS="udp://x")), 0)


class DibblerTests(SynchronousTestCase):
    def test_add(self):
        _, [(_, message)] = run(dibbler, "add", DIBBLER_ADD)
        lease = decode(message)
        self.assertEqual((lease.version, lease.ifname, lease.expired), (1, "erouter0", False))
        self.assertEqual(lease.ia_na, IANA(IPv6Address("2001:db8::5"), 1, 100, 200, 50, 80))
        self.assertEqual(lease.ia_pd, IAPD(IPv6Network("2001:db8:100::/56"), 2, 300, 400, 150, 240))
        self.assertEqual(lease.dns_servers, (IPv6Address("2001:db8::53"), IPv6Address("2001:db8::54")))
        self.assertEqual((lease.domain_name, lease.ntp_servers, lease.aftr), ("isp.lan", ("ntp.isp.lan",), "aftr.isp.lan"))
        self.assertEqual((lease.mapt, lease.mape), ("mapt-hex", "mape-hex"))
        self.assertEqual((lease.vendor_option17, lease.vendor_length), ("vendor-hex", 10))

    def test_events(self):
        for event, expired in (("add", False), ("update", False), ("del", True), ("delete", True),
                               ("expire", True)):
            _, [(_, message)] = run(dibbler, event, DIBBLER_ADD)
            self.assertEqual(decode(message).expired, expired, event)
        for event in ("start", "", None):
            self.assertEqual(run(dibbler, event, DIBBLER_ADD), (0, []))

    def test_absent_variables(self):
        _, [(_, message)] = run(dibbler, "update", {"IFACE": "erouter0", "PREFIX1": "2001:db8::", "PREFIX1LEN": "64",
                                                     "PREFIX1VALID": "10"})
        lease = decode(message)
        self.assertEqual((lease.ia_na, lease.dns_servers, lease.mapt, lease.vendor_option17), (None, (), None, None))
        self.assertEqual(lease.ia_pd.prefix, IPv6Network("2001:db8::/64"))

    def test_zero_lifetime_prefix_not_sent(self):
        env = dict(DIBBLER_ADD, PREFIX1PREF="0", PREFIX1VALID="0")
        self.assertEqual(run(dibbler, "add", env), (0, []))
        self.assertEqual(len(run(dibbler, "expire", env)[1]), 1)

    def test_long_values_cut_like_the_plugin(self):
        """
        Nameservers and vendor data are copied with sizeof - 1; vendor.Length
        is the whole length.
        """
        long_vendor = "ab" * 200
        _, [(_, message)] = run(dibbler, "add", dict(DIBBLER_ADD, SRV_OPTION17=long_vendor))
        lease = decode(message)
        self.assertEqual((lease.vendor_option17, lease.vendor_length), (long_vendor[:255], 400))

    def test_layout_without_mape(self):
        env = dict(DIBBLER_ADD, DHCPSUITE_INGEST_LAYOUT="x86_64-nomape")
        _, [(_, message)] = run(dibbler, "add", env)
        self.assertEqual(len(message), 1464)
        lease = decode(message)
        self.assertEqual((lease.mapt, lease.mape, lease.vendor_option17), ("mapt-hex", None, "vendor-hex"))


class CommonTests(SynchronousTestCase):
    def test_atoi(self):
        for text, value in (("12", 12), ("  -7x", -7), ("+3", 3), ("", 0), (None, 0), ("x1", 0)):
            self.assertEqual(common.atoi(text), value)

    def test_hex(self):
        for text, value in (("00000e10", 3600), ("0x10", 16), ("zz", 0), (None, 0)):
            self.assertEqual(common.hex_value(text), value)

    def test_wrap(self):
        self.assertEqual((common.u32(-1), common.i32(0xFFFFFFFF), common.i32(5)), (0xFFFFFFFF, -1, 5))

    def test_default_layout(self):
        self.assertIs(common.chosen_layout({}), layout.DEFAULT)
