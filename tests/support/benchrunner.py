"""
A stand-in for bench/run_all.py's Runner in unit tests: it records the
command a benchmark row would run and runs nothing (the test has written the
script's JSON into C{logdir} already).
"""

from __future__ import annotations

from pathlib import Path


class RecordingRunner:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.argv: list[str] = []

    def remaining(self) -> float:
        return 900.0

    def run(self, name: str, argv: list[str], limit: float) -> str:
        self.argv = argv
        return ""
