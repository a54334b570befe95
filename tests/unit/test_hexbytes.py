# -*- test-case-name: tests.unit.test_hexbytes -*-
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.hexbytes import mac_text, parse_hex


class HexBytesTests(SynchronousTestCase):
    def test_mac_text(self) -> None:
        self.assertEqual(mac_text(b"\x02\x00\xab\x00\x00\x01"), "02:00:ab:00:00:01")
        self.assertEqual(mac_text(b""), "")

    def test_parse_hex_round_trip(self) -> None:
        for raw in (b"", b"\x00", b"\x01\xff\x10", bytes(range(20))):
            self.assertEqual(parse_hex(mac_text(raw)), raw)
        self.assertEqual(parse_hex("01:02 03-04"), b"\x01\x02\x03\x04")
        self.assertEqual(parse_hex("0A0b"), b"\x0a\x0b")

    def test_parse_hex_rejects(self) -> None:
        for bad in ("123", "zz", "01:0g"):
            with self.subTest(bad=bad):
                self.assertRaises(ValueError, parse_hex, bad)
