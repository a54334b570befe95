"""
The [client] section.
"""

from ipaddress import IPv4Interface

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.config import ClientConfig
from dhcpsuite.config import ConfigError, parse_config_text

MAC = bytes.fromhex("020000000001")


def parse(text):
    return parse_config_text(text).section("client")


def _toml_string(text):
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n") + '"'


class ClientConfigTests(SynchronousTestCase):
    def test_defaults(self):
        cfg = parse('[client]\n[[client.interface]]\nname = "wan0"\n')
        (interface,) = cfg.interfaces
        self.assertEqual(interface.name, "wan0")
        self.assertEqual(interface.client_id_bytes(MAC), b"\x01" + MAC)
        self.assertTrue(interface.arp_probe)
        self.assertTrue(interface.configure)
        self.assertFalse(interface.release_on_stop)
        self.assertTrue(interface.persist)
        self.assertIsNone(interface.script)
        self.assertEqual(interface.schedule.initial_delay, 0.05)
        prl = list(interface.request_options)
        self.assertLess(prl.index(121), prl.index(3))

    def test_everything(self):
        cfg = parse('''
[client]
[[client.interface]]
name = "wan0"
client_id = "ff:00:00:00:01"
hostname = "gw"
vendor_class = "dhcpsuite"
request_options = [42, 150, 3]
broadcast_flag = true
rapid_commit = true
arp_probe = false
initial_delay = 0
offer_window = 0.5
renew_minimum = 5
request_attempts = 2
minimum_lease = 30
minimum_t1 = 5
script = "/usr/share/udhcpc/default.script"
configure = false
route_metric = 100
release_on_stop = true
persist = false
[[client.interface]]
name = "lan0"
inform = "192.0.2.10/24"
client_id = "none"
''')
        wan, lan = cfg.interfaces
        self.assertEqual(wan.client_id_bytes(MAC), bytes.fromhex("ff00000001"))
        self.assertEqual(wan.hostname, "gw")
        self.assertEqual(wan.vendor_class, "dhcpsuite")
        self.assertEqual(wan.request_options[-1], 150)
        self.assertEqual(wan.request_options.count(3), 1)
        self.assertTrue(wan.broadcast_flag and wan.rapid_commit and wan.release_on_stop)
        self.assertFalse(wan.arp_probe or wan.configure or wan.persist)
        self.assertEqual(wan.schedule.offer_window, 0.5)
        self.assertEqual(wan.schedule.renew_minimum, 5.0)
        self.assertEqual(wan.schedule.request_attempts, 2)
        self.assertEqual(wan.schedule.minimum_lease, 30.0)
        self.assertEqual(lan.schedule.minimum_lease, 60.0)
        self.assertEqual((wan.schedule.minimum_t1, lan.schedule.minimum_t1), (5.0, 2.0))
        self.assertEqual(wan.route_metric, 100)
        self.assertEqual(wan.script, "/usr/share/udhcpc/default.script")
        self.assertEqual(lan.inform, IPv4Interface("192.0.2.10/24"))
        self.assertIsNone(lan.client_id_bytes(MAC))
        self.assertEqual(cfg.interface("lan0"), lan)

    def test_client_id_hex_or_text(self):
        """
        Hex octets (two or more, each optionally after ":" or "-") are bytes;
        anything else is text (type 0), a trailing newline included.
        """
        for text, expected in [
            ("01:aa-bb0c", bytes.fromhex("01aabb0c")),
            ("0102", bytes.fromhex("0102")),
            ("01", b"\x0001"),
            ("01:02:", b"\x0001:02:"),
            ("01::02", b"\x0001::02"),
            ("01:02\n", b"\x0001:02\n"),
        ]:
            cfg = parse('[client]\n[[client.interface]]\nname = "wan0"\nclient_id = %s\n' % _toml_string(text))
            self.assertEqual(cfg.interfaces[0].client_id_bytes(MAC), expected, text)

    def test_text_client_id(self):
        cfg = parse('[client]\n[[client.interface]]\nname = "wan0"\nclient_id = "router-1"\n')
        self.assertEqual(cfg.interfaces[0].client_id_bytes(MAC), b"\x00router-1")

    def test_empty_section(self):
        self.assertEqual(parse("[client]\n"), ClientConfig(()))

    def assertConfigError(self, text, path):
        e = self.assertRaises(ConfigError, parse, text)
        self.assertEqual(e.path, path)

    def test_errors_name_the_key(self):
        self.assertConfigError('[client]\n[[client.interface]]\nhostname = "x"\n', "client.interface[0].name")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0"\nspeed = 1\n',
                               "client.interface[0].speed")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0"\narp_probe = "yes"\n',
                               "client.interface[0].arp_probe")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0"\nrequest_options = [300]\n',
                               "client.interface[0].request_options")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0"\ninform = "10.0.0.300/24"\n',
                               "client.interface[0].inform")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0"\ninitial_delay = -1\n',
                               "client.interface[0].initial_delay")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "a/b"\n', "client.interface[0].name")
        # A trailing newline is not part of any interface name (a "$" in a
        # regular expression once let it through).
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0\\n"\n', "client.interface[0].name")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0 "\n', "client.interface[0].name")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "%s"\n' % ("x" * 16), "client.interface[0].name")
        self.assertConfigError('[client]\n[[client.interface]]\nname = "wan0"\n[[client.interface]]\nname = "wan0"\n',
                               "client.interface[1].name")
        self.assertConfigError('[client]\nspeed = 1\n', "client.speed")
