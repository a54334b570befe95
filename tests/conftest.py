"""
Shared pytest set-up.

pytest-twisted runs the real reactor in a greenlet but checks nothing after a
test, so this adds the check Twisted's trial makes: a test must leave no
delayed calls, readers or writers behind.
"""

import pytest


def _reactor_internal(selectable) -> bool:
    # The reactor installs its own wakers (signals, threads) the first time
    # it runs, which may be during any test.
    return type(selectable).__module__ in ("twisted.internet._signals", "twisted.internet.posixbase")


@pytest.fixture(autouse=True)
def reactor_left_clean():
    from twisted.internet import reactor

    calls_before = set(reactor.getDelayedCalls())
    readers_before = set(reactor.getReaders())
    writers_before = set(reactor.getWriters())
    yield
    calls = [c for c in reactor.getDelayedCalls() if c not in calls_before and c.active()]
    readers = [r for r in reactor.getReaders() if r not in readers_before and not _reactor_internal(r)]
    writers = [w for w in reactor.getWriters() if w not in writers_before and not _reactor_internal(w)]
    for call in calls:
        call.cancel()
    assert not calls, f"test left delayed calls behind: {calls}"
    assert not readers, f"test left readers behind: {readers}"
    assert not writers, f"test left writers behind: {writers}"


# In CI every test must really run: a skip from anywhere (the environment
# helpers, a bare pytest.skip, importorskip, a skip marker) fails the run when
# DHCPSUITE_REQUIRE_ALL is set, so a new skip cannot pass CI silently.
def _fail_skip(report) -> None:
    from tests.support.environment import REQUIRE_ALL_VARIABLE, required

    if required() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped ({reason}), but {REQUIRE_ALL_VARIABLE} is set: every test must run"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_skip(outcome.get_result())
