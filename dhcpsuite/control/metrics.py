# -*- test-case-name: tests.unit.test_control -*-
"""
Prometheus metrics, collected at scrape time from the components' own
counters: the packet path only increments a dict entry, never a metric
object.
"""

from __future__ import annotations

import time
from typing import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from dhcpsuite.daemon import Daemon
from dhcpsuite.interfaces import ICluster, ICommitTimings
from dhcpsuite.server.outcomes import EXCHANGE_EVENTS, OutcomeEvent



class DaemonCollector:
    def __init__(self, daemon: Daemon, control_refusals: Mapping[str, int] | None = None, control_connections: int | None = None) -> None:
        self.daemon = daemon
        self.control_refusals = control_refusals
        self.control_connections = control_connections

    def collect(self) -> Iterator[Metric]:
        daemon = self.daemon
        yield GaugeMetricFamily("dhcpsuite_uptime_seconds", "Seconds since the daemon started.", value=time.time() - daemon.started)
        if self.control_refusals is not None:
            refusals = CounterMetricFamily(
                "dhcpsuite_control_refusals",
                "Control API requests and connections refused, by reason (host, origin, token, too-large, "
                "length-required, content-type, request-timeout, connections, evicted).",
                labels=["reason"],
            )
            for reason, value in sorted(dict(self.control_refusals).items()):
                refusals.add_metric([reason], value)
            yield refusals
        if self.control_connections is not None:
            yield GaugeMetricFamily("dhcpsuite_control_connections", "Open control API connections.", value=self.control_connections)
        if daemon.server is not None:
            yield from self._server(daemon.server)
        if daemon.ingest is not None:
            counters = CounterMetricFamily(
                "dhcpsuite_ingest_events", "Lease-ingest events by kind (messages by result, connections).", labels=["event"]
            )
            for key, value in sorted(dict(daemon.ingest.counters).items()):
                counters.add_metric([str(key)], value)
            yield counters
        if daemon.netlink is not None:
            reader = daemon.netlink.reader
            yield CounterMetricFamily("dhcpsuite_netlink_events", "Netlink events delivered to listeners.", value=reader.events_delivered)
            yield CounterMetricFamily("dhcpsuite_netlink_overruns", "Kernel ENOBUFS overruns of the netlink socket.", value=reader.overruns)
            yield CounterMetricFamily("dhcpsuite_netlink_resyncs", "Full re-dumps after overruns.", value=reader.resyncs)
        if daemon.client is not None:
            yield from self._client(daemon.client)
        if daemon.reloader is not None:
            reloads = CounterMetricFamily(
                "dhcpsuite_config_reloads",
                "Configuration reloads by result (applied, unchanged, failed: refused, nothing changed).",
                labels=["result"],
            )
            for result, value in sorted(daemon.reloader.counters.items()):
                reloads.add_metric([result], value)
            yield reloads

    def _server(self, server) -> Iterator[Metric]:
        counters = dict(server.counters)
        received = CounterMetricFamily("dhcpsuite_server_packets_received", "DHCP packets received by message type.", labels=["type"])
        dropped = CounterMetricFamily("dhcpsuite_server_packets_dropped", "Packets dropped by reason.", labels=["reason"])
        exchanges = CounterMetricFamily(
            "dhcpsuite_server_exchanges", "Server decisions by result (offer, ack, nak, ...) and reason.", labels=["result", "reason"]
        )
        send_failures = CounterMetricFamily(
            "dhcpsuite_server_send_failures",
            "Replies that could not go out the intended way, by path (packet-socket, neighbour-table, udp-socket).",
            labels=["path"],
        )
        malformed = CounterMetricFamily(
            "dhcpsuite_server_malformed_options", "Malformed options ignored in answered requests.", labels=["option"]
        )
        for key, value in sorted(counters.items()):
            kind, _, detail = key.partition(":")
            if kind == "received" and detail:
                received.add_metric([detail], value)
            elif kind == OutcomeEvent.DROP:
                dropped.add_metric([detail], value)
            elif kind == "send-failure":
                send_failures.add_metric([detail], value)
            elif kind == "malformed-option":
                malformed.add_metric([detail], value)
            elif kind in EXCHANGE_EVENTS:
                exchanges.add_metric([kind, detail], value)
        yield received
        yield dropped
        yield exchanges
        yield send_failures
        yield malformed
        yield CounterMetricFamily("dhcpsuite_server_packets_sent", "Replies sent.", value=counters.get("sent", 0))
        leases = GaugeMetricFamily("dhcpsuite_server_pool_addresses", "Pool addresses by use.", labels=["subnet", "pool", "use"])
        for pool in server.pool_usage():
            leases.add_metric([pool["subnet"], pool["pool"], "active"], pool["active"])
            leases.add_metric([pool["subnet"], pool["pool"], "free"], pool["free"])
        yield leases
        if server.history is not None:
            history = CounterMetricFamily(
                "dhcpsuite_lease_history_records",
                "Lease history records by fate (recorded, dropped when the writer's queue was full, written, "
                "write-failed attempts, lost at close, pruned).",
                labels=["result"],
            )
            for result, value in sorted(dict(server.history.counters).items()):
                history.add_metric([str(result)], value)
            yield history
        store = server.store
        timings = ICommitTimings(store, None)
        if timings is not None:
            cumulative, total = [], 0
            for bound, count in zip(timings.commit_bucket_bounds, list(timings.commit_buckets)):
                total += count
                cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))
            yield HistogramMetricFamily(
                "dhcpsuite_lease_store_commit_seconds",
                "Time to commit one batch of lease changes to disk.",
                buckets=cumulative,
                sum_value=timings.commit_seconds_total,
            )
            yield from _store_faults(timings)
        shared = ICluster(store, None)
        if shared is not None:
            yield from _cluster(shared)
            yield CounterMetricFamily(
                "dhcpsuite_cluster_borrowed",
                "New clients given an address of another member's share (this server's own had none free).",
                value=server.core.engine.borrowed if server.core is not None else 0,
            )

    def _client(self, client) -> Iterator[Metric]:
        states = GaugeMetricFamily("dhcpsuite_client_state", "1 for the state each client agent is in.", labels=["interface", "state"])
        drops = CounterMetricFamily(
            "dhcpsuite_client_drops",
            "Replies the client dropped, by interface and reason: frames not decoded, replies its state machine "
            "did not take, malformed options it ignored (the API's drops).",
            labels=["interface", "reason"],
        )
        for agent in client.agents_json():
            interface = agent.get("interface", "?")
            states.add_metric([interface, str(agent.get("state", "?"))], 1)
            for reason, value in sorted((agent.get("drops") or {}).items()):
                drops.add_metric([interface, str(reason)], value)
        yield states
        yield drops
        hooks = getattr(client, "hook_counters", None)
        if hooks is not None:
            runs = CounterMetricFamily("dhcpsuite_hook_runs", "Event hook runs by result.", labels=["result"])
            for key, value in sorted(dict(hooks).items()):
                runs.add_metric([str(key)], value)
            yield runs


def _store_faults(store: ICommitTimings) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "dhcpsuite_lease_store_commit_failures", "Lease commit attempts that failed (each retried; no ACK meanwhile).",
        value=store.commit_failures,
    )
    yield CounterMetricFamily(
        "dhcpsuite_lease_store_conflicts_lost",
        "Bindings the shared lease database gave to another server's client at commit (answered with a NAK).",
        value=store.conflicts_lost,
    )
    yield CounterMetricFamily(
        "dhcpsuite_lease_store_reconnects", "New database connections after a failure.", value=store.reconnects,
    )
    yield CounterMetricFamily(
        "dhcpsuite_lease_store_learned",
        "Bindings taken into the index from other servers' commits on a shared database.",
        value=store.learned,
    )
    yield CounterMetricFamily(
        "dhcpsuite_lease_store_unreachable_seconds", "Seconds the lease database has failed commits, in total.",
        value=store.unreachable_seconds,
    )


def _cluster(shared: ICluster) -> Iterator[Metric]:
    members = shared.members()
    yield GaugeMetricFamily(
        "dhcpsuite_cluster_members", "Live servers sharing the lease database (this one included).",
        value=sum(1 for m in members if m["alive"]),
    )
    share = GaugeMetricFamily(
        "dhcpsuite_cluster_share_addresses",
        "Addresses of each pool in this server's share (offered to new clients before others').",
        labels=["pool"],
    )
    mine = next((m.get("share") for m in members if m.get("self")), None) or {}
    for pool, count in sorted(mine.items()):
        share.add_metric([pool], count)
    yield share


def render_metrics(daemon: Daemon, control_refusals: Mapping[str, int] | None = None, control_connections: int | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(daemon, control_refusals, control_connections))
    return generate_latest(registry)
