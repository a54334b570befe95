"""
bench/hotpath.py without its child processes: the argument bounds, one small
pass of each path in this process, the medians, and the rows bench/run makes
of its JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from bench import hotpath, run_all
from tests.support.benchrunner import RecordingRunner


class ArgumentTests(SynchronousTestCase):
    def refused(self, argv: list[str]) -> str:
        stderr = io.StringIO()
        with redirect_stderr(stderr), self.assertRaises(SystemExit) as raised:
            hotpath.parse_arguments(argv)
        self.assertEqual(raised.exception.code, 2)
        return stderr.getvalue()

    def test_defaults(self) -> None:
        """
        20,000 clients (the size of the server profiles in BENCHMARKS.md),
        4 distinct ingest pools of 5,000, 3 fresh processes of 3 passes.
        """
        args = hotpath.parse_arguments([])
        self.assertEqual((args.parts, args.clients, args.runs, args.passes, args.pushers, args.pool),
                         (("server", "ingest"), 20_000, 3, 3, 4, 5_000))
        self.assertIsNone(args.json)

    def test_parts(self) -> None:
        self.assertEqual(hotpath.parse_arguments(["--parts", "ingest,"]).parts, ("ingest",))
        self.assertIn("--parts", self.refused(["--parts", "server,codec"]))
        self.assertIn("--parts", self.refused(["--parts", ","]))

    def test_bounds(self) -> None:
        """
        Every count is bounded: a run cannot be asked to take forever.
        """
        self.assertIn("--clients must be within 1..200000", self.refused(["--clients", "0"]))
        self.assertIn("--runs must be within 1..20", self.refused(["--runs", "21"]))
        self.assertIn("--passes", self.refused(["--passes", "0"]))
        self.assertIn("--pushers", self.refused(["--pushers", "17"]))
        self.assertIn("--pool", self.refused(["--pool", "100001"]))


class PassTests(SynchronousTestCase):
    def test_one_small_run(self) -> None:
        """
        A run of two passes in this process: every figure is there and
        positive, and the split adds up to the end-to-end figure (the
        protocol's share is the difference).
        """
        args = hotpath.parse_arguments(["--clients", "40", "--passes", "2", "--pushers", "2", "--pool", "30"])
        run = hotpath.child(args)
        self.assertEqual(len(run["passes"]), 2)
        for figures in run["passes"]:
            self.assertEqual(set(figures), set(hotpath.SERVER_FIGURES) | {"ingest_us", "ingest_decode_us"})
            for name in ("discover_us", "request_us", "decode_us", "handle_us", "encode_us", "ingest_us",
                         "ingest_decode_us"):
                self.assertGreater(figures[name], 0, name)
            self.assertAlmostEqual(figures["dora_us"], figures["discover_us"] + figures["request_us"])
            self.assertAlmostEqual(figures["decode_us"] + figures["handle_us"] + figures["encode_us"]
                                   + figures["protocol_us"], figures["dora_us"])

    def test_every_client_answered(self) -> None:
        """
        The end-to-end pass fails rather than report the cost of a path
        that did not answer: here the pool has fewer addresses than clients.
        """
        self.patch(hotpath, "POOL", "10.1.0.0-10.1.0.9")
        discovers = hotpath._requests(1, 20)
        with self.assertRaises(RuntimeError) as raised:
            hotpath.server_end_to_end(20, discovers)
        self.assertIn("DISCOVER: 10 replies to 20 clients", str(raised.exception))

    def test_every_message_accepted(self) -> None:
        """
        The ingest pass fails when a message is refused (here a pool cut
        in the middle of a message, so the last one never completes).
        """
        from bench.ingest import distinct_pool

        pool = distinct_pool(0, 3)
        with self.assertRaises(RuntimeError) as raised:
            hotpath.ingest_pass([pool[:-10]], 3)
        self.assertIn("accepted 2 of 3", str(raised.exception))


class SummaryTests(SynchronousTestCase):
    def test_cold_is_the_first_pass_and_warm_the_last(self) -> None:
        runs = [{"imports_s": 0.2 + i / 10,
                 "passes": [{"dora_us": 200.0 + i}, {"dora_us": 50.0}, {"dora_us": 30.0 - i}]} for i in range(3)]
        summary = hotpath.summarise(runs)
        self.assertEqual(summary["cold"], {"dora_us": 201.0})
        self.assertEqual(summary["warm"], {"dora_us": 29.0})
        self.assertAlmostEqual(summary["imports_s"], 0.3)
        self.assertEqual(hotpath.summary_line("X", summary),
                         "HOTPATH X cold_dora_us=201.0 warm_dora_us=29.0 imports_s=0.300")


class RunAllRowTests(SynchronousTestCase):
    def test_rows(self) -> None:
        """
        bench/run reports the warm figures (no peer, no target: the
        interpreter comparison is BENCHMARKS.md's) with the split beside.
        """
        logdir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, logdir, True)
        figures = {"discover_us": 50.0, "request_us": 60.0, "dora_us": 110.0, "decode_us": 8.0, "handle_us": 50.0,
                   "encode_us": 10.0, "protocol_us": 42.0, "ingest_us": 11.5, "ingest_decode_us": 2.5}
        (logdir / "hotpath.json").write_text(json.dumps({
            "interpreter": "CPython 3.11.7", "clients": 20000, "runs": 3, "passes": 3, "ingest_messages": 20000,
            "summary": {"cold": dict(figures, dora_us=130.0), "warm": figures, "imports_s": 0.25}}))
        runner = RecordingRunner(logdir)
        raw: dict = {}
        rows = run_all.hotpath(runner, argparse.Namespace(reps=3, quick=False), raw)
        self.assertEqual(runner.argv[runner.argv.index("--runs") + 1], "3")
        self.assertEqual([(r.ours, r.met) for r in rows], [("110.0 µs", "report"), ("11.50 µs", "report")])
        self.assertIn("decode 8.0 / decide 50.0 / encode 10.0 µs; first pass 130.0 µs", rows[0].note)
        self.assertIn("the decoder alone 2.50 µs", rows[1].note)
        self.assertEqual(raw["hotpath"]["interpreter"], "CPython 3.11.7")
        self.assertIn("hotpath", run_all.RUN_ORDER)


class InterpreterOptionsTests(SynchronousTestCase):
    """
    bench/server_perfdhcp.py's two options for running the daemon under
    another interpreter: --base-python and --warmup.
    """

    def test_warmup_runs_first_and_is_not_measured(self) -> None:
        """
        With --warmup every server gets an unmeasured perfdhcp run at
        WARMUP_RATE before the measured one, and the step's CPU figure
        starts after it.
        """
        from bench import server_perfdhcp

        ran: list[list[str]] = []
        measured_cpu: list[bool] = []

        class Finished:
            stdout, stderr, returncode = "", "", 1

        class Client:
            def run(self, argv, check, timeout):
                ran.append(argv)
                return Finished()

        class Pair:
            client, client_if = Client(), "cli0"

        log = Path(tempfile.mkdtemp()) / "server.out"
        self.addCleanup(shutil.rmtree, log.parent, True)
        log.write_text("")

        class FakeServer:
            pid, output = 1, log

            def alive(self) -> bool:
                return True

            def stop(self) -> None:
                pass

            def discard(self) -> None:
                pass

        def cpu_seconds(pid: int) -> float:
            measured_cpu.append(len(ran) == 1)
            return 0.0

        self.patch(server_perfdhcp, "cpu_seconds", cpu_seconds)
        self.patch(server_perfdhcp, "find_program", lambda name: name)
        args = argparse.Namespace(clients=500, duration=3, pin=False, warmup=4, ok_drops=1.0)
        step = server_perfdhcp.run_step(Pair(), "kea", 6000, args, Path("."), start=lambda kind: FakeServer())
        self.assertEqual(len(ran), 2)
        warmup, measured = ran
        self.assertEqual(warmup[warmup.index("-r") + 1], str(server_perfdhcp.WARMUP_RATE))
        self.assertEqual(warmup[warmup.index("-p") + 1], "4")
        self.assertEqual(measured[measured.index("-r") + 1], "6000")
        self.assertEqual(measured_cpu, [True, False])
        self.assertEqual(step["rate"], 6000)

    def test_base_python_needs_a_twistd_beside_it(self) -> None:
        from bench import server_perfdhcp

        stderr = io.StringIO()
        with redirect_stderr(stderr), self.assertRaises(SystemExit):
            server_perfdhcp.main(["--servers", "dhcpsuite-base", "--base-tree", ".", "--base-python",
                                  "/nonexistent/bin/python"])
        self.assertIn("no twistd beside it (/nonexistent/bin/twistd)", stderr.getvalue())
