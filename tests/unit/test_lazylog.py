"""
L{dhcpsuite.lazylog}: events kept while held are published later with their
own time, level, namespace and source; otherwise they go to twisted.logger
at once.
"""

from __future__ import annotations

from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite import lazylog


class Thing:
    log = lazylog.LazyLogger()

    def hello(self) -> None:
        self.log.info("hello {who}", who="world")


class LazyLoggerTests(SynchronousTestCase):
    def setUp(self):
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.addCleanup(lazylog.release)

    def test_published_at_once_when_not_held(self):
        thing = Thing()
        thing.hello()
        (event,) = self.events
        self.assertEqual(event["log_namespace"], f"{__name__}.Thing")
        self.assertIs(event["log_source"], thing)
        self.assertEqual(event["log_level"], LogLevel.info)
        self.assertEqual(event["who"], "world")

    def test_held_events_wait_and_keep_their_time_and_order(self):
        lazylog.hold()
        self.assertTrue(lazylog.held())
        thing = Thing()
        thing.hello()
        lazylog.LazyLogger("some.module").warn("second {n}", n=2)
        self.assertEqual(self.events, [])
        self.assertEqual(lazylog.release(), 2)
        self.assertFalse(lazylog.held())
        first, second = self.events
        self.assertEqual((first["log_namespace"], first["log_format"]), (f"{__name__}.Thing", "hello {who}"))
        self.assertIs(first["log_source"], thing)
        self.assertEqual((second["log_namespace"], second["log_level"], second["n"]), ("some.module", LogLevel.warn, 2))
        self.assertLessEqual(first["log_time"], second["log_time"])

    def test_release_without_hold_publishes_nothing(self):
        self.assertEqual(lazylog.release(), 0)
        self.assertEqual(self.events, [])

    def test_every_level(self):
        log = lazylog.LazyLogger("levels")
        for name in ("debug", "info", "warn", "error"):
            getattr(log, name)(name)
        self.assertEqual([e["log_level"].name for e in self.events], ["debug", "info", "warn", "error"])
