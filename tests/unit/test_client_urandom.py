"""
L{dhcpsuite.client.system.urandom}: the client's random source, the
kernel's bytes turned into numbers as C{random.SystemRandom} does.
"""

from __future__ import annotations

import os
import random
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core.machine import ClientMachine, Settings
from dhcpsuite.client.core.schedule import Schedule, retransmit_delay
from dhcpsuite.client.system.urandom import Urandom


class FixedBytes:
    """
    C{os.urandom} returning the same bytes to both sources, so their
    results can be compared exactly.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __call__(self, n: int) -> bytes:
        return self.data[:n]


class UrandomTests(SynchronousTestCase):
    def same_as_system_random(self, call) -> None:
        for data in (b"\x00" * 8, b"\xff" * 8, bytes(range(1, 9)), b"\x80\x01\x7f\xfe\x12\x34\x56\x78"):
            # random.SystemRandom reads os.urandom through its own name for it.
            with mock.patch.object(os, "urandom", FixedBytes(data)), \
                    mock.patch.object(random, "_urandom", FixedBytes(data)):
                self.assertEqual(call(Urandom()), call(random.SystemRandom()), data)

    def test_getrandbits_is_system_randoms(self):
        for k in (0, 1, 7, 8, 9, 31, 32, 33, 64):
            self.same_as_system_random(lambda r: r.getrandbits(k))

    def test_uniform_is_system_randoms(self):
        for a, b in ((0.0, 1.0), (-0.5, 0.5), (0.0, 0.05), (2.0, 1.0)):
            self.same_as_system_random(lambda r: r.uniform(a, b))

    def test_ranges(self):
        source = Urandom()
        for _ in range(200):
            self.assertTrue(0 <= source.getrandbits(32) < 2**32)
            self.assertTrue(0.0 <= source.random() < 1.0)
            self.assertTrue(-1.0 <= source.uniform(-1.0, 1.0) <= 1.0)
        self.assertEqual(source.getrandbits(0), 0)
        self.assertRaises(ValueError, source.getrandbits, -1)

    def test_draws_from_the_kernel(self):
        """
        Every draw is fresh bytes from the kernel: nothing seeded, nothing
        kept between calls (two xids in a row differ).
        """
        source = Urandom()
        with mock.patch.object(os, "urandom", FixedBytes(b"\x12\x34\x56\x78")):
            self.assertEqual(source.getrandbits(32), 0x12345678)
        values = {source.getrandbits(64) for _ in range(8)}
        self.assertEqual(len(values), 8)

    def test_drives_the_machine_and_schedule(self):
        """
        What the machine and its schedule ask of it: an xid for the
        DISCOVER and a fuzzed retransmission delay.
        """
        source = Urandom()
        machine = ClientMachine(Settings(mac=b"\x02\x00\x00\x00\x00\x01"), Schedule(initial_delay=0.0),
                                rng=source)
        with mock.patch.object(os, "urandom", FixedBytes(b"\xca\xfe\xba\xbe" + b"\x00" * 4)):
            (send,) = [a for a in machine.start(10.0, 1000.0) if type(a).__name__ == "Send"]
        self.assertEqual(send.message.xid, 0xCAFEBABE)
        delay = retransmit_delay(Schedule(), 0, source)
        self.assertTrue(Schedule().delays[0] - Schedule().fuzz <= delay <= Schedule().delays[0] + Schedule().fuzz)
