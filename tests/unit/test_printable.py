"""
C{printable}: every control, separator and bidi character visible, plain
text untouched, and no escape forgeable with a literal backslash.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.printable import printable


class PrintableTests(SynchronousTestCase):
    def test_every_c0_c1_and_del_escaped(self) -> None:
        for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]:
            self.assertEqual(printable(chr(code)), f"\\x{code:02x}")

    def test_separators_and_bidi_escaped(self) -> None:
        self.assertEqual(printable("a\u2028b\u2029c\u202ed\u2066"), r"a\u2028b\u2029c\u202ed\u2066")

    def test_plain_text_is_the_same_object(self) -> None:
        text = "host-1.example é 中 [x] {y}"
        self.assertIs(printable(text), text)

    def test_backslash_cannot_forge_an_escape(self) -> None:
        self.assertEqual(printable(r"a\x1b"), r"a\\x1b")
        self.assertNotEqual(printable(r"a\x1b"), printable("a\x1b"))

    def test_backslash_kept_for_logs(self) -> None:
        self.assertEqual(printable("b'\\x00'\x1b", backslash=False), "b'\\x00'\\x1b")
        text = r"C:\path"
        self.assertIs(printable(text, backslash=False), text)
