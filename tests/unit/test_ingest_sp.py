# -*- test-case-name: tests.unit.test_ingest_sp -*-
"""
SP/TCP: headers, the receive framer, the plugins' PUSH sender (with the
network faked).
"""

import tracemalloc

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.ingest import sp


class Collector:
    def __init__(self):
        self.messages = []

    def __call__(self, data, offset, size):
        self.messages.append(bytes(data[offset:offset + size]))


def stream(*payloads, head=sp.PUSH_HEADER):
    return head + b"".join(sp.frame(p) for p in payloads)


class HeaderTests(SynchronousTestCase):
    def test_wire_bytes(self):
        """
        The reference's bytes: PUSH 00 53 50 00 00 50 00 00, PULL ...51...
        """
        self.assertEqual(sp.PUSH_HEADER, bytes.fromhex("0053500000500000"))
        self.assertEqual(sp.PULL_HEADER, bytes.fromhex("0053500000510000"))

    def test_check(self):
        self.assertIsNone(sp.check_header(sp.PUSH_HEADER, sp.PROTOCOL_PUSH))
        self.assertEqual(sp.check_header(b"\0SQ\0\0\x50\0\0", sp.PROTOCOL_PUSH), sp.HEADER_BAD_MAGIC)
        self.assertEqual(sp.check_header(sp.header(0x20), sp.PROTOCOL_PUSH), sp.HEADER_WRONG_PROTOCOL)  # PUB
        self.assertEqual(sp.check_header(sp.PULL_HEADER, sp.PROTOCOL_PUSH), sp.HEADER_WRONG_PROTOCOL)
        self.assertEqual(sp.check_header(sp.PUSH_HEADER[:7] + b"\1", sp.PROTOCOL_PUSH), sp.HEADER_BAD_RESERVED)
        self.assertEqual(sp.check_header(sp.PUSH_HEADER[:6] + b"\1\0", sp.PROTOCOL_PUSH), sp.HEADER_BAD_RESERVED)

    def test_frame(self):
        self.assertEqual(sp.frame(b"x" * 1720)[:8], bytes.fromhex("00000000000006B8"))
        self.assertEqual(sp.frame(b"x" * 1464)[:8], bytes.fromhex("00000000000005B8"))


class FramerTests(SynchronousTestCase):
    def setUp(self):
        self.got = Collector()
        self.framer = sp.PullFramer(self.got, max_message_size=4096)

    def test_many_in_one_chunk(self):
        payloads = [bytes([i]) * (100 + i) for i in range(50)]
        self.framer.feed(stream(*payloads))
        self.assertEqual(self.got.messages, payloads)
        self.assertEqual((self.framer.messages, self.framer.buffered), (50, 0))

    def test_byte_by_byte(self):
        payloads = [b"a" * 1720, b"", b"b" * 3]
        for byte in stream(*payloads):
            self.framer.feed(bytes([byte]))
        self.assertEqual(self.got.messages, payloads)
        self.assertEqual(self.framer.buffered, 0)

    def test_every_split_point(self):
        data = stream(b"first", b"second" * 100, b"third")
        for cut in range(len(data) + 1):
            got = Collector()
            framer = sp.PullFramer(got)
            framer.feed(data[:cut])
            framer.feed(data[cut:])
            self.assertEqual(got.messages, [b"first", b"second" * 100, b"third"], cut)

    def test_every_pair_of_split_points(self):
        """
        Three reads, cut anywhere: inside the header, a length, a message,
        and around an empty message.
        """
        payloads = [b"first", b"", b"third" * 3]
        data = stream(*payloads)
        for first in range(len(data) + 1):
            for second in range(first, len(data) + 1):
                got = Collector()
                framer = sp.PullFramer(got)
                for piece in (data[:first], data[first:second], data[second:]):
                    framer.feed(piece)
                self.assertEqual(got.messages, payloads, (first, second))
                self.assertEqual((framer.messages, framer.buffered), (3, 0))

    def test_rest_of_read_framed_in_place(self):
        """
        When a read completes a pending message, only that message is
        joined; the messages after it are handed over in the read's own
        buffer (not in a copy of the whole read).
        """
        buffers = []
        framer = sp.PullFramer(lambda data, offset, size: buffers.append((data, offset, size)))
        data = stream(b"a" * 100, b"b" * 100, b"c" * 100)
        cut = len(sp.PUSH_HEADER) + 8 + 50
        framer.feed(data[:cut])
        rest = data[cut:]
        framer.feed(rest)
        # The pending message alone, then the others at their offsets in the read.
        self.assertEqual([(len(b), o, s) for b, o, s in buffers], [(100, 0, 100), (266, 58, 100), (266, 166, 100)])
        self.assertIs(buffers[1][0], rest)
        self.assertIs(buffers[2][0], rest)

    def test_oversize_after_split_length(self):
        framer = sp.PullFramer(self.got, max_message_size=4096)
        data = stream(b"ok") + (4097).to_bytes(8, "big")
        framer.feed(data[:-3])
        e = self.assertRaises(sp.FramingError, framer.feed, data[-3:])
        self.assertEqual(e.reason, "oversize")
        self.assertEqual(self.got.messages, [b"ok"])

    def test_large_message_not_joined_per_chunk(self):
        """
        A message arriving in many chunks is buffered in one growing buffer
        and copied out once, when it is complete.
        """
        framer = sp.PullFramer(self.got, max_message_size=1 << 20)
        data = stream(b"z" * (1 << 20))
        framer.feed(data[:100])
        for start in range(100, len(data) - 1000, 1000):
            framer.feed(data[start:start + 1000])
            self.assertEqual(self.got.messages, [])
        framer.feed(data[start + 1000:])
        self.assertEqual(self.got.messages, [b"z" * (1 << 20)])

    def test_bad_headers(self):
        for head, reason in (
            (sp.header(0x20), sp.HEADER_WRONG_PROTOCOL),
            (sp.PUSH_HEADER[:7] + b"\1", sp.HEADER_BAD_RESERVED),
            (b"GET / HT", sp.HEADER_BAD_MAGIC),
        ):
            framer = sp.PullFramer(self.got)
            e = self.assertRaises(sp.FramingError, framer.feed, head + sp.frame(b"x"))
            self.assertEqual(e.reason, reason)
            self.assertFalse(framer.handshaken)
        self.assertEqual(self.got.messages, [])

    def test_half_header_waits(self):
        self.framer.feed(sp.PUSH_HEADER[:4])
        self.assertFalse(self.framer.handshaken)
        self.assertEqual(self.framer.buffered, 4)
        self.framer.feed(sp.PUSH_HEADER[4:])
        self.assertTrue(self.framer.handshaken)

    def test_oversize(self):
        """
        A length above the maximum (up to 2**63 and beyond) is a framing error,
        after the messages before it were delivered.
        """
        for length in (4097, 2 ** 63, 2 ** 64 - 1):
            got = Collector()
            framer = sp.PullFramer(got, max_message_size=4096)
            data = stream(b"ok") + length.to_bytes(8, "big") + b"x" * 10
            e = self.assertRaises(sp.FramingError, framer.feed, data)
            self.assertEqual(e.reason, "oversize")
            self.assertEqual(got.messages, [b"ok"])

    def test_exactly_max(self):
        self.framer.feed(stream(b"m" * 4096))
        self.assertEqual(len(self.got.messages[0]), 4096)


    def test_tiny_reads_cost_a_byte_per_byte(self):
        """
        2-byte reads of a begun message are held in one buffer that grows in
        place: about one byte of memory per byte received (a list of the
        reads cost 44 bytes per byte).
        """
        framer = sp.PullFramer(self.got, max_message_size=1 << 20)
        framer.feed(sp.PUSH_HEADER + (999_999).to_bytes(8, "big"))
        body = b"q" * 200_000
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for start in range(0, len(body), 2):
                framer.feed(body[start:start + 2])
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        self.assertEqual(framer.buffered, len(body))
        self.assertTrue(framer.in_message)
        self.assertLess(held / len(body), 1.5)
        framer.discard()
        self.assertEqual(framer.buffered, 0)

    def test_in_message(self):
        self.assertFalse(self.framer.in_message)
        self.framer.feed(sp.PUSH_HEADER)
        self.assertFalse(self.framer.in_message)
        data = sp.frame(b"m" * 10)
        self.framer.feed(data[:3])  # part of the length
        self.assertTrue(self.framer.in_message)
        self.framer.feed(data[3:8])  # the length, no body yet
        self.assertTrue(self.framer.in_message)
        self.framer.feed(data[8:])
        self.assertFalse(self.framer.in_message)
        self.assertEqual(self.got.messages, [b"m" * 10])


class IpcFramerTests(SynchronousTestCase):
    """
    nanomsg's IPC mapping: a message-type byte (1) before each length.
    The bytes were checked against C{nanocat --push --connect ipc://...} and
    C{nngcat --push0 --dial ipc://...} (tests/integration/test_ingest_ipc.py).
    """

    def test_frame(self):
        self.assertEqual(sp.frame(b"ab", sp.TRANSPORT_IPC), bytes.fromhex("01" "0000000000000002") + b"ab")

    def test_every_split_point(self):
        payloads = [b"first", b"", b"second" * 50]
        data = sp.PUSH_HEADER + b"".join(sp.frame(p, sp.TRANSPORT_IPC) for p in payloads)
        for cut in range(len(data) + 1):
            got = Collector()
            framer = sp.PullFramer(got, transport=sp.TRANSPORT_IPC)
            framer.feed(data[:cut])
            framer.feed(data[cut:])
            self.assertEqual(got.messages, payloads, cut)
            self.assertEqual(framer.buffered, 0)

    def test_bad_message_type(self):
        for kind in (0, 2, 255):
            got = Collector()
            framer = sp.PullFramer(got, transport=sp.TRANSPORT_IPC)
            data = sp.PUSH_HEADER + sp.frame(b"ok", sp.TRANSPORT_IPC) + bytes([kind]) + sp.frame(b"x")
            e = self.assertRaises(sp.FramingError, framer.feed, data)
            self.assertEqual(e.reason, sp.REASON_BAD_MESSAGE_TYPE)
            self.assertEqual(got.messages, [b"ok"])

    def test_tcp_framing_is_refused_on_ipc(self):
        """
        A TCP-framed stream on the IPC socket starts its length with 0, not
        the type byte: refused, not misread.
        """
        framer = sp.PullFramer(Collector(), transport=sp.TRANSPORT_IPC)
        e = self.assertRaises(sp.FramingError, framer.feed, stream(b"x" * 1720))
        self.assertEqual(e.reason, sp.REASON_BAD_MESSAGE_TYPE)


class AddressTests(SynchronousTestCase):
    def test_parse(self):
        self.assertEqual(sp.parse_address(sp.DEFAULT_ADDRESS), ("tcp", ("127.0.0.1", 50324)))
        self.assertEqual(sp.parse_address("tcp://[::1]:5"), ("tcp", ("::1", 5)))
        self.assertEqual(sp.parse_address("ipc:///run/dhcpsuite/ingest.sock"), ("ipc", "/run/dhcpsuite/ingest.sock"))
        self.assertEqual(sp.parse_address("ipc://relative.sock"), ("ipc", "relative.sock"))
        for bad in ("ipc://", "ipc:///a\0b", "inproc://x", "tcp://127.0.0.1", "tcp://:5", "tcp://h:0", "tcp://h:70000", "tcp://h:x"):
            self.assertRaises(ValueError, sp.parse_address, bad)


class PushTests(SynchronousTestCase):
    def test_retries_five_times_one_second_apart(self):
        calls, sleeps = [], []

        def send(transport, target, payload, timeout):
            calls.append((transport, target, payload))
            raise ConnectionRefusedError()

        self.assertFalse(sp.push("tcp://127.0.0.1:9", b"m", sleep=sleeps.append, send=send))
        self.assertEqual(calls, [("tcp", ("127.0.0.1", 9), b"m")] * 5)
        self.assertEqual(sleeps, [1.0] * 4)

    def test_stops_after_success(self):
        outcomes = [OSError(), None]
        sleeps = []

        def send(*args):
            outcome = outcomes.pop(0)
            if outcome:
                raise outcome

        self.assertTrue(sp.push("tcp://127.0.0.1:9", b"m", sleep=sleeps.append, send=send))
        self.assertEqual((outcomes, sleeps), ([], [1.0]))
