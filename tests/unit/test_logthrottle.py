"""
Tests for L{dhcpsuite.logthrottle}: the first event of each kind is let
through, the rest are counted and summarised at most once per interval, on
an injected clock.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.logthrottle import LogThrottle, describe_counts


class LogThrottleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.summaries: list[tuple[dict, float]] = []
        self.throttle = LogThrottle(self.clock, 10.0, lambda counts, seconds: self.summaries.append((dict(counts), seconds)))

    def test_first_of_each_key_allowed(self) -> None:
        self.assertTrue(self.throttle.allow("a"))
        self.assertFalse(self.throttle.allow("a"))
        self.assertTrue(self.throttle.allow("b"))
        self.assertFalse(self.throttle.allow("b"))
        self.assertFalse(self.throttle.allow("a"))
        self.assertEqual(self.throttle.suppressed, 3)
        self.assertEqual(self.summaries, [])

    def test_one_summary_per_interval_while_it_goes_on(self) -> None:
        self.throttle.allow("a")
        allowed = 0
        for _ in range(60):  # 30 s of events 0.5 s apart
            allowed += self.throttle.allow("a")
            self.clock.advance(0.5)
        self.assertEqual(allowed, 0)
        self.assertEqual(self.summaries, [({"a": 20}, 10.0)] * 3)

    def test_quiet_interval_ends_the_episode(self) -> None:
        self.throttle.allow("a")
        self.throttle.allow("a")
        self.clock.advance(10)
        self.assertEqual(self.summaries, [({"a": 1}, 10.0)])
        self.clock.advance(10)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertTrue(self.throttle.allow("a"))
        self.assertEqual(len(self.summaries), 1)

    def test_nothing_suppressed_no_summary(self) -> None:
        self.throttle.allow("a")
        self.throttle.allow("b")
        self.clock.advance(10)
        self.assertEqual(self.summaries, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_flush_reports_so_far(self) -> None:
        self.throttle.allow("a")
        self.throttle.allow("a")
        self.clock.advance(4)
        self.throttle.flush()
        self.assertEqual(self.summaries, [({"a": 1}, 4.0)])
        self.throttle.flush()
        self.assertEqual(len(self.summaries), 1)
        # The interval's summary covers only what came after.
        self.throttle.allow("a")
        self.clock.advance(6)
        self.assertEqual(self.summaries[1], ({"a": 1}, 6.0))

    def test_stop_flushes_and_cancels(self) -> None:
        self.throttle.allow("a")
        self.throttle.allow("a")
        self.throttle.stop()
        self.assertEqual(self.summaries, [({"a": 1}, 0.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.throttle.stop()
        # Usable again, from a fresh episode.
        self.assertTrue(self.throttle.allow("a"))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_interval_must_be_positive(self) -> None:
        self.assertRaises(ValueError, LogThrottle, self.clock, 0, lambda counts, seconds: None)

    def test_describe_counts(self) -> None:
        self.assertEqual(describe_counts({"b": 2, "a": 2, "c": 10}), "c=10, a=2, b=2")
        self.assertEqual(describe_counts({}), "")
