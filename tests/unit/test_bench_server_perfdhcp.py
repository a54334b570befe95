"""
The server benchmark's own logic, without servers: the latency step at a
fraction of dhcpsuite's maximum for every server, the summary, and the rows
bench/run makes of the script's JSON (against Kea, target >= 1.2x).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from bench import run_all, server_perfdhcp
from tests.support.benchrunner import RecordingRunner


def sweep(server: str, best_rate: int, rep: int = 1) -> dict:
    best = {"server": server, "rate": best_rate, "dora_per_s": float(best_rate), "drops_pct": 0.0,
            "server_cpu_pct": 80.0}
    failed = dict(best, rate=best_rate + 500, drops_pct=20.0)
    return {"server": server, "rep": rep, "steps": [best, failed], "best": best, "peak": best, "complete": True}


class LatencyStepTests(SynchronousTestCase):
    def test_every_server_at_the_same_fraction_of_dhcpsuites_max(self) -> None:
        """
        The latency figure compares like with like: each server gets one
        step at 0.8 x dhcpsuite's highest sustained rate of that
        repetition, Kea included (whatever its own maximum).
        """
        ran: list[tuple[str, int]] = []

        def run_step(pair, kind, rate, args, workdir, start=None) -> dict:
            ran.append((kind, rate))
            return {"server": kind, "rate": rate, "dora_per_s": float(rate), "drops_pct": 0.0,
                    "loadavg_1min": 1.0, "do_avg_delay_ms": 1.0, "ra_avg_delay_ms": 2.0, "dora_avg_delay_ms": 3.0}

        self.patch(server_perfdhcp, "run_step", run_step)
        results = [sweep("kea", 10000), sweep("dhcpsuite", 5000)]
        args = argparse.Namespace(latency_at=0.8, duration=1)
        server_perfdhcp.latency_steps(None, results, args, Path("."), float("inf"))
        self.assertEqual(ran, [("kea", 4000), ("dhcpsuite", 4000)])
        summary = server_perfdhcp.summarise(results, ["dhcpsuite", "kea"])
        self.assertEqual(summary["kea"]["latency_rate"], [4000])
        self.assertEqual(summary["dhcpsuite"]["median_dora_latency_ms"], 3.0)


class RunAllServerRowsTests(SynchronousTestCase):
    def test_rows_against_kea(self) -> None:
        logdir = Path(tempfile.mkdtemp())
        self.addCleanup(lambda: __import__("shutil").rmtree(logdir, ignore_errors=True))
        results = [sweep("dhcpsuite", 5000), sweep("kea", 10000)]
        for r in results:
            r["latency"] = {"rate": 4000, "drops_pct": 0.0, "do_avg_delay_ms": 1.0, "ra_avg_delay_ms": 2.0,
                            "dora_avg_delay_ms": 3.0 if r["server"] == "dhcpsuite" else 0.15}
        summary = server_perfdhcp.summarise(results, ["dhcpsuite", "kea"])
        (logdir / "server.json").write_text(json.dumps({"summary": summary, "ratio": {}, "partial": False}))

        runner = RecordingRunner(logdir)
        rows = run_all.server(runner, argparse.Namespace(server_reps=3, quick=False), {})
        self.assertIn("dhcpsuite,kea", runner.argv)
        self.assertEqual(runner.argv[runner.argv.index("--latency-at") + 1], "0.8")
        self.assertEqual([r.met for r in rows], ["NOT MET", "report"])
        self.assertEqual((rows[0].target, rows[0].ratio), ("≥ 1.2×", 0.5))
        self.assertAlmostEqual(rows[1].ratio, 3.0 / 0.15)
        self.assertEqual(rows[1].peer, "kea 0.15 ms at the same offered rate")
