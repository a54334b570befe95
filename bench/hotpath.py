"""
The packet paths in process, on whichever interpreter runs this: no root, no
sockets, no peer. What a DORA and an ingested lease message cost in our own
code, so that CPython and PyPy (or a compiled codec) can be compared.

    .venv/bin/python bench/hotpath.py                       # 3 runs x 3 passes, both paths
    .venv/bin/python bench/hotpath.py --runs 5 --passes 4 --parts server --json /tmp/hotpath.json
    /tmp/pypy-venv/bin/python bench/hotpath.py ...          # PyPy 3.9 (BENCHMARKS.md says how)

Each run is a fresh child process of the same interpreter (so the first pass
of a run is a cold start: imports done, nothing compiled or cached yet) that
makes C{--passes} passes; each pass builds everything anew:

  - server, end to end: C{--clients} distinct clients (one MAC each), relayed
    as perfdhcp's are (hops 1, giaddr set, the parameter list 1, 28, 2, 3, 15,
    6, 12, a client identifier 01 + MAC),
    DISCOVERs then REQUESTs for the offered addresses, handed in bursts of 16
    to C{ServerProtocol.stampedDatagramsReceived} (as C{StampedPort} hands a
    read burst) with a C{ServerCore} on a C{MemoryLeaseStore}; the replies
    go to a transport that keeps them. Every client must get its OFFER and
    its ACK, or the run fails.
  - server, split: the same clients on a new core and store, one stage at a
    time over all of them: decode (C{decode_message}), decide
    (C{ServerCore.handle}), encode (C{Message.to_bytes}, as the protocol
    calls it). "Protocol" is what the end-to-end figure spends beyond the
    three: counters, the commit wait, the send.
  - ingest: bench/ingest.py's distinct stream (C{--pushers} pools of
    C{--pool} messages, every message distinct, pre-framed), each pool on its
    own connection of the service C{make_ingest_service} composes
    (C{PullProtocol} -> C{PullFramer} -> C{MessageRouter} ->
    C{V4LeaseHandler} -> C{LeaseRegistry}), fed 64 KiB reads, the
    connections taking turns. Every message must be accepted.

Times are the process's CPU time (C{time.process_time}: less disturbed by the
other processes of a shared machine than wall time), per DISCOVER, per
REQUEST, per DORA (the two) and per ingested message. Printed: each pass,
then the median over the runs of the first pass ("cold") and of the last
pass ("warm"), and one summary line; C{--json PATH} writes every figure there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import dhcpsuite_config  # noqa: E402
from bench.ingest import MESSAGE_SIZE, distinct_pool  # noqa: E402

PARTS = ("server", "ingest")
BURST = 16
READ_SIZE = 65536
SUBNET, POOL = "10.0.0.0/8", "10.1.0.0-10.200.0.0"
RELAY, SERVER_ID = "10.0.0.2", "10.0.0.1"
# What perfdhcp 2.2 asks for in its DISCOVERs and REQUESTs (option 55; seen on the wire, as are hops 1 and a
# client identifier 01 + MAC in relay mode).
PERFDHCP_PARAMETERS = bytes((1, 28, 2, 3, 15, 6, 12))
SERVER_FIGURES = ("discover_us", "request_us", "dora_us", "decode_us", "handle_us", "encode_us", "protocol_us")
LIMITS = {"clients": (1, 200_000), "runs": (1, 20), "passes": (1, 20), "pushers": (1, 16), "pool": (1, 100_000)}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/hotpath.py", description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {','.join(PARTS)}")
    parser.add_argument("--clients", type=int, default=20_000, help="distinct server clients per pass")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes; medians are over these")
    parser.add_argument("--passes", type=int, default=3, help="passes per process (the first is the cold one)")
    parser.add_argument("--pushers", type=int, default=4, help="ingest connections, one distinct pool each")
    parser.add_argument("--pool", type=int, default=5_000, help="distinct messages per ingest pool")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here (JSON)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.parts = tuple(part for part in args.parts.split(",") if part)
    if not args.parts or not set(args.parts) <= set(PARTS):
        parser.error(f"--parts: one or more of {', '.join(PARTS)}")
    for name, (low, high) in LIMITS.items():
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be within {low}..{high}")
    return args


# ---- server ---------------------------------------------------------------------------

class _Kept:
    """
    A datagram transport that keeps what is written.
    """

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes, addr=None) -> None:
        self.written.append(data)

    def getHost(self):
        return None


def _server_core():
    from ipaddress import IPv4Address

    from dhcpsuite.config import parse_config_text
    from dhcpsuite.leases.memory import MemoryLeaseStore
    from dhcpsuite.server.decide import ServerCore

    config = parse_config_text(dhcpsuite_config("/nonexistent", SUBNET, POOL, store="memory")).section("server")
    return ServerCore(config, MemoryLeaseStore(), server_ids={"srv0": IPv4Address(SERVER_ID)}, clock=time.time)


def _requests(kind: int, clients: int, offers: list[bytes] | None = None) -> list[bytes]:
    """
    Relayed DISCOVERs of clients 1..C{clients}, or (C{offers} given) their
    REQUESTs for the addresses offered.
    """
    from ipaddress import IPv4Address

    from dhcpsuite.dhcp4.packet import Message, decode_message

    relay, server_id = IPv4Address(RELAY), IPv4Address(SERVER_ID).packed
    requested: dict[int, bytes] = {}
    for data in offers or ():
        offer = decode_message(data)
        requested[offer.xid] = offer.yiaddr.packed
    packets = []
    for xid in range(1, clients + 1):
        mac = xid.to_bytes(6, "big")
        message = Message(op=1, xid=xid, chaddr=mac + bytes(10), hops=1, giaddr=relay)
        message.options[53] = bytes((kind,))
        message.options[55] = PERFDHCP_PARAMETERS
        message.options[61] = b"\x01" + mac
        if offers is not None:
            message.options[50] = requested[xid]
            message.options[54] = server_id
        packets.append(message.to_bytes(576, b""))
    return packets


def _check_replies(what: str, replies: list[bytes], clients: int) -> None:
    if len(replies) != clients:
        raise RuntimeError(f"{what}: {len(replies)} replies to {clients} clients")


def server_end_to_end(clients: int, discovers: list[bytes]) -> dict[str, float]:
    from collections import Counter

    from twisted.internet.task import Clock

    from dhcpsuite.server.protocol import ServerProtocol

    protocol = ServerProtocol(_server_core(), "srv0", Counter(), False, None, clock=Clock())
    transport = _Kept()
    protocol.makeConnection(transport)
    source = (RELAY, 67)

    def through(packets: list[bytes]) -> float:
        bursts = [[(data, source, 0.0) for data in packets[i:i + BURST]] for i in range(0, len(packets), BURST)]
        started = time.process_time()
        for burst in bursts:
            protocol.stampedDatagramsReceived(burst)
        return time.process_time() - started

    discover_s = through(discovers)
    offers, transport.written = transport.written, []
    _check_replies("DISCOVER", offers, clients)
    request_s = through(_requests(3, clients, offers))
    _check_replies("REQUEST", transport.written, clients)
    return {"discover_us": discover_s / clients * 1e6, "request_us": request_s / clients * 1e6,
            "dora_us": (discover_s + request_s) / clients * 1e6}


def server_split(clients: int, discovers: list[bytes]) -> dict[str, float]:
    from dhcpsuite.dhcp4.packet import decode_message

    core = _server_core()
    spent = {"decode": 0.0, "handle": 0.0, "encode": 0.0}

    def stages(packets: list[bytes]) -> list[bytes]:
        started = time.process_time()
        messages = [decode_message(data) for data in packets]
        decoded = time.process_time()
        outcomes = [core.handle(message, "srv0") for message in messages]
        handled = time.process_time()
        replies = [outcome.reply.message.to_bytes(576, message.options.get(55, b""))
                   for message, outcome in zip(messages, outcomes)]
        encoded = time.process_time()
        spent["decode"] += decoded - started
        spent["handle"] += handled - decoded
        spent["encode"] += encoded - handled
        return replies

    offers = stages(discovers)
    _check_replies("DISCOVER (split)", offers, clients)
    stages(_requests(3, clients, offers))
    # Per DORA: two packets through each stage.
    return {f"{name}_us": seconds / clients * 1e6 for name, seconds in spent.items()}


def server_pass(clients: int, discovers: list[bytes]) -> dict[str, float]:
    figures = server_end_to_end(clients, discovers)
    figures.update(server_split(clients, discovers))
    figures["protocol_us"] = figures["dora_us"] - figures["decode_us"] - figures["handle_us"] - figures["encode_us"]
    return figures


# ---- ingest ---------------------------------------------------------------------------

def ingest_pass(pools: list[bytes], messages: int) -> dict[str, float]:
    from twisted.internet.address import IPv4Address as TCPAddress
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    from dhcpsuite.ingest import sp
    from dhcpsuite.ingest.config import IngestConfig
    from dhcpsuite.ingest.service import make_ingest_service
    from dhcpsuite.leases.registry import LeaseRegistry

    clock = Clock()
    # The endpoint is never listened on: the connections are made here.
    service = make_ingest_service(IngestConfig(accept_unmanaged=True), LeaseRegistry(), reactor=clock,
                                  endpoint=object())
    connections = []
    for index, pool in enumerate(pools):
        protocol = service.factory.buildProtocol(TCPAddress("TCP", "127.0.0.1", 40000 + index))
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(sp.PUSH_HEADER)
        connections.append((protocol, [pool[i:i + READ_SIZE] for i in range(0, len(pool), READ_SIZE)]))
    rounds = max(len(reads) for _, reads in connections)
    started = time.process_time()
    for turn in range(rounds):
        for protocol, reads in connections:
            if turn < len(reads):
                protocol.dataReceived(reads[turn])
    spent = time.process_time() - started
    counters = service.counters
    rejected = {name: count for name, count in counters.items() if name.startswith(("rejected.", "closed."))}
    if counters["accepted.v4"] != messages or rejected:
        raise RuntimeError(f"ingest accepted {counters['accepted.v4']} of {messages}; refused: {rejected}")
    # The decoder alone on the same messages: the eager part (the fields the
    # handler reads later are decoded then, inside the pipeline's figure).
    from dhcpsuite.ingest import pluginmsg

    frame = sp.LENGTH_SIZE + MESSAGE_SIZE
    alone = [pool[i + sp.LENGTH_SIZE:i + frame] for pool in pools for i in range(0, len(pool), frame)]
    decode = pluginmsg.decode
    decoding = time.process_time()
    for data in alone:
        decode(data)
    decode_s = time.process_time() - decoding
    return {"ingest_us": spent / messages * 1e6, "ingest_decode_us": decode_s / len(alone) * 1e6}


# ---- one process, and the runs ------------------------------------------------------------

def child(args: argparse.Namespace) -> dict:
    """
    One run: the passes, in this process.
    """
    started = time.perf_counter()
    import dhcpsuite.ingest.service  # noqa: F401
    import dhcpsuite.server.protocol  # noqa: F401
    imports_s = time.perf_counter() - started
    discovers = _requests(1, args.clients) if "server" in args.parts else []
    pools: list[bytes] = []
    if "ingest" in args.parts:
        pools = [distinct_pool(pusher, args.pool) for pusher in range(args.pushers)]
    passes = []
    for _ in range(args.passes):
        figures: dict[str, float] = {}
        if "server" in args.parts:
            figures.update(server_pass(args.clients, discovers))
        if "ingest" in args.parts:
            figures.update(ingest_pass(pools, args.pushers * args.pool))
        passes.append(figures)
    return {"imports_s": imports_s, "passes": passes}


def interpreter() -> str:
    name = platform.python_implementation()
    if name == "PyPy":
        version = sys.pypy_version_info  # type: ignore[attr-defined]
        return f"PyPy {version.major}.{version.minor}.{version.micro} (Python {platform.python_version()})"
    return f"{name} {platform.python_version()}"


def run_child(args: argparse.Namespace) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--parts", ",".join(args.parts),
            "--clients", str(args.clients), "--passes", str(args.passes), "--pushers", str(args.pushers),
            "--pool", str(args.pool)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"a run failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    """
    Medians over the runs: of each run's first pass (cold) and last pass
    (warm), and of the imports.
    """
    names = list(runs[0]["passes"][0])
    return {
        "cold": {name: statistics.median(run["passes"][0][name] for run in runs) for name in names},
        "warm": {name: statistics.median(run["passes"][-1][name] for run in runs) for name in names},
        "imports_s": statistics.median(run["imports_s"] for run in runs),
    }


def summary_line(label: str, summary: dict) -> str:
    parts = [f"HOTPATH {label}"]
    for when in ("cold", "warm"):
        figures = summary[when]
        if "dora_us" in figures:
            parts.append(f"{when}_dora_us={figures['dora_us']:.1f}")
        if "ingest_us" in figures:
            parts.append(f"{when}_ingest_us={figures['ingest_us']:.2f}")
    parts.append(f"imports_s={summary['imports_s']:.3f}")
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    label = interpreter()
    print(f"# hotpath {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} {label} parts={','.join(args.parts)} "
          f"clients={args.clients} runs={args.runs} passes={args.passes} ingest={args.pushers}x{args.pool} "
          f"loadavg={' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    runs = []
    for number in range(args.runs):
        run = run_child(args)
        runs.append(run)
        for index, figures in enumerate(run["passes"]):
            shown = " ".join(f"{name}={value:.2f}" for name, value in figures.items())
            print(f"run={number + 1} pass={index + 1} {shown}", flush=True)
    summary = summarise(runs)
    for when in ("cold", "warm"):
        shown = " ".join(f"{name}={value:.2f}" for name, value in summary[when].items())
        print(f"MEDIAN {when} ({'first' if when == 'cold' else 'last'} pass of each run) {shown}")
    print(summary_line(label, summary))
    if args.json is not None:
        args.json.write_text(json.dumps({"interpreter": label, "parts": list(args.parts), "clients": args.clients,
                          "runs": args.runs, "passes": args.passes, "ingest_messages": args.pushers * args.pool,
                          "loadavg": os.getloadavg(), "summary": summary, "per_run": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
