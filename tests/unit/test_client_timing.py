"""
The client's schedule and T1/T2 arithmetic.
"""

import random

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.core.schedule import (
    INFINITE,
    Schedule,
    renew_resend_delay,
    restart_delay,
    retransmit_delay,
    sanitise_times,
)


class RetransmitTests(SynchronousTestCase):
    def test_rfc2131_backoff_without_fuzz(self):
        schedule = Schedule(fuzz=0.0)
        rng = random.Random(0)
        self.assertEqual([retransmit_delay(schedule, n, rng) for n in range(7)], [4, 8, 16, 32, 64, 64, 64])

    def test_fuzz_within_one_second(self):
        schedule = Schedule()
        rng = random.Random(7)
        for attempt in range(6):
            base = schedule.delays[min(attempt, 4)]
            for _ in range(50):
                self.assertTrue(base - 1 <= retransmit_delay(schedule, attempt, rng) <= base + 1)

    def test_schedule_is_injectable(self):
        schedule = Schedule(delays=(0.1, 0.2), fuzz=0.0)
        rng = random.Random(0)
        self.assertEqual([retransmit_delay(schedule, n, rng) for n in range(3)], [0.1, 0.2, 0.2])

    def test_divisor(self):
        self.assertEqual(retransmit_delay(Schedule(fuzz=0.0), 0, random.Random(0), 4.0), 1.0)

    def test_never_negative(self):
        schedule = Schedule(delays=(0.1,), fuzz=5.0)
        rng = random.Random(3)
        self.assertTrue(all(retransmit_delay(schedule, 0, rng) >= 0 for _ in range(50)))

    def test_restart_delays(self):
        schedule = Schedule()
        self.assertEqual([restart_delay(schedule, n) for n in (0, 1, 2, 100)], [0.0, 1.0, 2.0, 60.0])


class RenewResendTests(SynchronousTestCase):
    def test_half_remaining(self):
        self.assertEqual(renew_resend_delay(Schedule(), 1000.0, 1400.0), 200.0)

    def test_at_least_minimum(self):
        self.assertEqual(renew_resend_delay(Schedule(), 1000.0, 1050.0), 60.0)
        self.assertEqual(renew_resend_delay(Schedule(renew_minimum=5.0), 1000.0, 1004.0), 5.0)


class SanitiseTests(SynchronousTestCase):
    def test_sane_server_values_kept(self):
        self.assertEqual(sanitise_times(3600, 1000, 2000), (1000.0, 2000.0))

    def test_defaults(self):
        self.assertEqual(sanitise_times(3600, None, None), (1800.0, 3150.0))

    def test_t1_not_below_t2(self):
        self.assertEqual(sanitise_times(3600, 2000, 2000), (1800.0, 3150.0))
        self.assertEqual(sanitise_times(3600, 3000, 2000), (1800.0, 3150.0))

    def test_beyond_lease(self):
        self.assertEqual(sanitise_times(3600, 3600, 4000), (1800.0, 3150.0))

    def test_zero(self):
        self.assertEqual(sanitise_times(3600, 0, 0), (1800.0, 3150.0))

    def test_lone_t1(self):
        self.assertEqual(sanitise_times(3600, 600, None), (600.0, 3150.0))
        self.assertEqual(sanitise_times(3600, 3500, None), (1800.0, 3150.0))

    def test_lone_t2(self):
        self.assertEqual(sanitise_times(3600, None, 3000), (1800.0, 3000.0))
        self.assertEqual(sanitise_times(3600, None, 1000), (1800.0, 3150.0))

    def test_infinite(self):
        self.assertEqual(sanitise_times(None, 10, 20), (None, None))
        self.assertEqual(sanitise_times(INFINITE, 10, 20), (None, None))
