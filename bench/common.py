"""
Pieces the benchmarks share: running perfdhcp and reading its report,
process CPU time, medians.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
from pathlib import Path
from typing import Iterable

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:
    # Run as a script (python bench/x.py) as well as a module (python -m bench.x).
    sys.path.insert(0, str(REPOSITORY))


def dhcpsuite_config(state: Path | str, subnet: str, pool: str, store: str = "sqlite",
                     server_lines: str = "", tables: str = "") -> str:
    """
    The benchmarks' dhcpsuite server: one subnet on srv0 with one pool
    (C{"first-last"}), exchanges not logged; C{server_lines} go into
    C{[server]}, C{tables} (e.g. C{[server.postgresql]}) after it.
    """
    return (f'state_dir = "{state}"\n\n[server]\nlease_store = "{store}"\nlog_exchanges = false\n{server_lines}\n'
            f'{tables}\n[[server.subnet]]\nsubnet = "{subnet}"\ninterface = "srv0"\npool = ["{pool}"]\nlease_time = 3600\n')


def find_program(name: str) -> str | None:
    import shutil

    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def cpu_seconds(pid: int) -> float:
    """
    User + system CPU time of C{pid} (and its reaped children), 0 if gone.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields after the command: state is [0]; utime, stime, cutime, cstime are 14-17 of stat(5).
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def perfdhcp_section(text: str, section: str) -> dict[str, float]:
    """
    The C{key: number} lines of one perfdhcp statistics section, e.g.
    C{perfdhcp_section(out, "DISCOVER-OFFER")["sent packets"]}.
    """
    values: dict[str, float] = {}
    inside = False
    for line in text.splitlines():
        if line.startswith("***Statistics for:"):
            inside = section in line
            continue
        if inside:
            match = re.match(r"^([a-z][a-z ()-]*[a-z)]):\s*([-0-9.]+)", line.strip())
            if match:
                values.setdefault(match.group(1), float(match.group(2)))
    return values


def perfdhcp_counts(text: str) -> dict[str, float] | None:
    """
    DISCOVERs sent, OFFERs and ACKs received from a perfdhcp -4 report;
    None when the report is not there (perfdhcp failed).
    """
    do = perfdhcp_section(text, "DISCOVER-OFFER")
    ra = perfdhcp_section(text, "REQUEST-ACK")
    if "sent packets" not in do or "received packets" not in ra:
        return None
    return {
        "discovers_sent": do["sent packets"],
        "offers_received": do.get("received packets", 0.0),
        "requests_sent": ra.get("sent packets", 0.0),
        "acks_received": ra["received packets"],
    }


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def server_bench_refusal(script: str, why_root: str, needed: list[str], args) -> str | None:
    """
    What stops a perfdhcp server benchmark from running here (root, a
    missing program), or L{None}; turns C{args.pin} off on a single CPU.
    """
    if os.geteuid() != 0:
        return f"{script} needs root ({why_root})"
    missing = [p for p in needed + (["taskset"] if args.pin else []) if find_program(p) is None]
    if missing:
        return f"{script} needs {', '.join(missing)}"
    if args.pin and (os.cpu_count() or 1) < 2:
        print("fewer than 2 CPUs: running unpinned", file=sys.stderr)
        args.pin = False
    return None
