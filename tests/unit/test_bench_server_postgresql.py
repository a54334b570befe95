"""
The PostgreSQL benchmark's own logic, without servers: Kea's configuration,
the step down below a ramp whose first rate fails, and the rows bench/run
makes of the script's JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from bench import run_all, server_postgresql
from bench.server_perfdhcp import summarise
from tests.support.benchrunner import RecordingRunner


class KeaConfigTests(SynchronousTestCase):
    def test_multi_threaded_on_postgresql(self) -> None:
        """
        The 4-thread kind is the configuration the issue names, and the
        lease database is PostgreSQL through the unix-socket directory.
        """
        credentials = {"name": "step_1", "user": "dhcpsuite", "password": "p", "host": "/tmp/x/socket",
                       "port": 5432}
        config = server_postgresql.kea_config(Path("/tmp/s"), credentials, threads=4)["Dhcp4"]
        self.assertEqual(config["multi-threading"],
                         {"enable-multi-threading": True, "thread-pool-size": 4, "packet-queue-size": 64})
        self.assertEqual(config["lease-database"], {"type": "postgresql", **credentials})

    def test_single_thread_memfile(self) -> None:
        config = server_postgresql.kea_config(Path("/tmp/s"), None, threads=1)["Dhcp4"]
        self.assertFalse(config["multi-threading"]["enable-multi-threading"])
        self.assertEqual(config["lease-database"]["type"], "memfile")
        self.assertEqual(config["lease-database"]["name"], "/tmp/s/kea-leases4.csv")


def fake_step(capacity: int):
    """
    A run_step whose server sustains every rate up to C{capacity}.
    """
    def run_step(pair, kind, rate, args, workdir, start=None) -> dict:
        ok = rate <= capacity
        return {"server": kind, "rate": rate, "dora_per_s": float(min(rate, capacity)),
                "drops_pct": 0.0 if ok else 30.0, "server_alive": True, "server_cpu_pct": 50.0,
                "loadavg_1min": 1.0}
    return run_step


class DescendTests(SynchronousTestCase):
    def sweep_failing_first(self, capacity: int) -> dict:
        self.patch(server_postgresql, "run_step", fake_step(capacity))
        args = argparse.Namespace(rates=[1000, 1500], duration=1, ok_drops=1.0)
        first = fake_step(capacity)(None, "kea-pg", 1000, args, None)
        result = {"server": "kea-pg", "rep": 1, "steps": [first], "best": None, "peak": first, "complete": True}
        server_postgresql.descend(None, "kea-pg", 1, args, Path("."), float("inf"), lambda kind: None, result)
        return result

    def test_steps_down_to_the_first_sustained_rate(self) -> None:
        """
        With a first rate of 1000 failing and a capacity of 600, the steps
        are 750 (fails) then 500 (sustained), and no lower one is tried.
        """
        result = self.sweep_failing_first(600)
        self.assertEqual([s["rate"] for s in result["steps"]], [750, 500, 1000])
        self.assertEqual(result["best"]["rate"], 500)

    def test_summary_does_not_read_a_descent_as_never_failing(self) -> None:
        """
        The failed first step stays last, so the summary still says a rate
        failed (the capacity is not "above the highest rate tried").
        """
        result = self.sweep_failing_first(600)
        summary = summarise([result], ["kea-pg"])["kea-pg"]
        self.assertEqual(summary["max_sustained_rate"], [500])
        self.assertEqual(summary["sustained_highest_rate"], [False])

    def test_nothing_sustained_at_all(self) -> None:
        result = self.sweep_failing_first(10)
        self.assertIsNone(result["best"])
        self.assertEqual([s["rate"] for s in result["steps"]], [750, 500, 300, 200, 1000])


class RunAllRowsTests(SynchronousTestCase):
    def test_rows_from_the_scripts_json(self) -> None:
        """
        bench/run's rows: dhcpsuite-PG against Kea-MT-PG (>= 3x) and against
        SQLite (>= 0.5x), then failover and the pair, reported.
        """
        logdir = Path(tempfile.mkdtemp())
        self.addCleanup(lambda: __import__("shutil").rmtree(logdir, ignore_errors=True))

        def kind(dora: float) -> dict:
            return {"median_dora_per_s_at_max": dora, "sweeps": 3}

        summary = {"kea-pg": kind(450.0), "kea-pg-mt4": kind(744.0), "dhcpsuite-pg1": kind(1850.0),
                   "dhcpsuite-pg2": kind(2500.0), "dhcpsuite-sqlite": kind(2250.0), "kea-memfile": kind(4000.0)}
        (logdir / "server-postgresql.json").write_text(json.dumps({"partial": False, "results": {
            "ramp": {"summary": summary, "ratios": {}},
            "cluster": {"median_total_dora_per_s": 1500.0, "totals": [1500.0]},
            "failover": {"runs": [{}] * 5, "median_init_reboot_ms": 7.9, "median_new_client_ms": 9.5,
                         "median_baseline_init_reboot_ms": 5.4}}}))

        runner = RecordingRunner(logdir)
        raw: dict = {}
        rows = run_all.server_postgresql(runner, argparse.Namespace(server_reps=3, quick=False), raw)
        self.assertIn("--reps", runner.argv)
        self.assertEqual([r.met for r in rows], ["NOT MET", "met", "report", "report"])
        self.assertAlmostEqual(rows[0].ratio, 1850.0 / 744.0)
        self.assertAlmostEqual(rows[1].ratio, 1850.0 / 2250.0)
        self.assertEqual(rows[2].ours, "7.9 ms / 9.5 ms")
        self.assertAlmostEqual(rows[3].ratio, 1500.0 / 1850.0)
        self.assertIn("server-postgresql", raw)
