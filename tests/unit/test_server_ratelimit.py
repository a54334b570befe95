"""
Rate limits per client and per relay: bounded memory, reservations exempt.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import parse_config_text
from dhcpsuite.dhcp4.constants import MessageType
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.decide import ServerCore
from dhcpsuite.server.ratelimit import RateLimiter
from tests.unit.test_server_decide import NOW, SERVER, request

CONFIG = """
[server]
rate_limit_entries = 16
[server.client_rate_limit]
rate = 1
burst = 3
[server.relay_rate_limit]
rate = 2
burst = 5
[[server.subnet]]
subnet = "10.0.0.0/16"
interface = "lan0"
pool = ["10.0.1.0-10.0.9.255"]
[[server.subnet.reservation]]
mac = "02:00:00:00:00:aa"
address = "10.0.0.50"
"""


class RateLimiterTests(SynchronousTestCase):
    def test_burst_then_rate(self) -> None:
        limiter = RateLimiter(rate=2, burst=3)
        self.assertEqual([limiter.allow("a", 0.0) for _ in range(4)], [True, True, True, False])
        self.assertFalse(limiter.allow("a", 0.4))
        self.assertTrue(limiter.allow("a", 0.6))
        # Another key has its own bucket.
        self.assertTrue(limiter.allow("b", 0.6))

    def test_memory_bounded(self) -> None:
        limiter = RateLimiter(rate=1, burst=1, max_entries=100)
        for n in range(10_000):
            limiter.allow(n, 0.0)
        self.assertEqual(len(limiter), 100)

    def test_bad_parameters(self) -> None:
        self.assertRaises(ValueError, RateLimiter, 0, 1)
        self.assertRaises(ValueError, RateLimiter, 1, 0)


class ServerRateLimitTests(SynchronousTestCase):
    def setUp(self) -> None:
        config = parse_config_text(CONFIG).section("server")
        self.core = ServerCore(config, MemoryLeaseStore(), {"lan0": SERVER}, clock=lambda: NOW)

    def test_client_limited(self) -> None:
        results = [self.core.handle(request(MessageType.DISCOVER, 1), "lan0", NOW).event for _ in range(5)]
        self.assertEqual(results, ["offer", "offer", "offer", "drop", "drop"])
        self.assertEqual(self.core.handle(request(MessageType.DISCOVER, 1), "lan0", NOW).reason, "rate-limited-client")
        self.assertEqual(self.core.handle(request(MessageType.DISCOVER, 1), "lan0", NOW + 1.0).event, "offer")

    def test_reserved_client_never_limited(self) -> None:
        results = {self.core.handle(request(MessageType.DISCOVER, 0xAA), "lan0", NOW).event for _ in range(50)}
        self.assertEqual(results, {"offer"})

    def test_relay_limited(self) -> None:
        relay = IPv4Address("10.0.0.2")
        events = [
            self.core.handle(request(MessageType.DISCOVER, n, giaddr=relay), None, NOW).reason for n in range(1, 8)
        ]
        self.assertEqual(events[:5], [""] * 5)
        self.assertEqual(events[5:], ["rate-limited-relay"] * 2)

    def test_defaults(self) -> None:
        config = parse_config_text(
            '[server]\n[[server.subnet]]\nsubnet = "10.0.0.0/24"\ninterface = "x"\npool = ["10.0.0.5-10.0.0.9"]\n'
        ).section("server")
        self.assertEqual((config.client_rate_limit.rate, config.client_rate_limit.burst), (10.0, 20))
        self.assertFalse(config.relay_rate_limit.enabled)
