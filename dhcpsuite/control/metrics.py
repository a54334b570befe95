# -*- test-case-name: tests.unit.test_control -*-
"""
Prometheus metrics, collected at scrape time from the components' own
counters: the packet path only increments a dict entry, never a metric
object.
"""

from __future__ import annotations

import time
from typing import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from dhcpsuite.daemon import Daemon

_SERVER_EVENTS = ("offer", "ack", "nak", "release", "decline", "inform", "ignore")


class DaemonCollector:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        daemon = self.daemon
        yield GaugeMetricFamily("dhcpsuite_uptime_seconds", "Seconds since the daemon started.", value=time.time() - daemon.started)
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
            elif kind == "drop":
                dropped.add_metric([detail], value)
            elif kind == "send-failure":
                send_failures.add_metric([detail], value)
            elif kind == "malformed-option":
                malformed.add_metric([detail], value)
            elif kind in _SERVER_EVENTS:
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
        store = server.store
        buckets = getattr(store, "commit_buckets", None)
        if buckets is not None:
            from dhcpsuite.leases.sqlite import COMMIT_BUCKETS

            cumulative, total = [], 0
            for bound, count in zip(COMMIT_BUCKETS, list(buckets)):
                total += count
                cumulative.append(("+Inf" if bound == float("inf") else repr(bound), total))
            yield HistogramMetricFamily(
                "dhcpsuite_lease_store_commit_seconds",
                "Time to commit one batch of lease changes to disk.",
                buckets=cumulative,
                sum_value=store.commit_seconds_total,
            )

    def _client(self, client) -> Iterator[Metric]:
        states = GaugeMetricFamily("dhcpsuite_client_state", "1 for the state each client agent is in.", labels=["interface", "state"])
        for agent in client.agents_json():
            states.add_metric([agent.get("interface", "?"), str(agent.get("state", "?"))], 1)
        yield states
        hooks = getattr(client, "hook_counters", None)
        if hooks is not None:
            runs = CounterMetricFamily("dhcpsuite_hook_runs", "Event hook runs by result.", labels=["result"])
            for key, value in sorted(dict(hooks).items()):
                runs.add_metric([str(key)], value)
            yield runs


def render_metrics(daemon: Daemon) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(daemon))
    return generate_latest(registry)
