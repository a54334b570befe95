"""
The CPU accounting benchmark's arithmetic, without servers: per-thread
figures per DORA from two /proc samples, and the strace summary it reads.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

from bench import server_account


class ThreadDeltaTests(SynchronousTestCase):
    def test_per_dora_figures_by_thread(self) -> None:
        before = {10: {"name": "twistd", "run_ns": 1_000_000, "wait_ns": 0, "vcs": 5, "ivcs": 1},
                  12: {"name": "twistd", "run_ns": 0, "wait_ns": 0, "vcs": 0, "ivcs": 0},
                  11: {"name": "twistd", "run_ns": 0, "wait_ns": 0, "vcs": 0, "ivcs": 0}}
        after = {10: {"name": "twistd", "run_ns": 201_000_000, "wait_ns": 40_000_000, "vcs": 1005, "ivcs": 501},
                 11: {"name": "twistd", "run_ns": 30_000_000, "wait_ns": 10_000_000, "vcs": 900, "ivcs": 0}}
        rows = server_account.thread_delta(10, before, after, doras=1000)
        # The main thread is the reactor; the others by start order; a
        # thread gone by the second sample is left out.
        self.assertEqual(list(rows), ["reactor", "thread 1"])
        self.assertEqual(rows["reactor"], {"cpu_us_per_dora": 200.0, "runqueue_us_per_dora": 40.0,
                                           "voluntary_cs_per_dora": 1.0, "involuntary_cs_per_dora": 0.5})
        self.assertEqual(rows["thread 1"]["cpu_us_per_dora"], 30.0)
        self.assertEqual(rows["thread 1"]["voluntary_cs_per_dora"], 0.9)


class StraceTests(SynchronousTestCase):
    def test_calls_by_name(self) -> None:
        out = Path(tempfile.mkdtemp(prefix="account-"))
        self.addCleanup(shutil.rmtree, out, True)
        summary = """% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
  3.69    0.016748           0     29464      5506 recvmsg
  9.87    0.044782           1     23960           sendto
------ ----------- ----------- --------- --------- ----------------
100.00    0.453646           4     53424      6102 total
"""

        class Tracer:
            def __init__(self, args, **kw):
                Path(args[args.index("-o") + 1]).write_text(summary)

            def send_signal(self, sig):
                pass

            def wait(self, timeout):
                return 0

        with mock.patch.object(server_account.subprocess, "Popen", Tracer), \
                mock.patch.object(server_account.time, "sleep", lambda s: None):
            calls = server_account.strace_counts(123, 1.0, out)
        self.assertEqual(calls, {"recvmsg": 29464, "sendto": 23960})
