"""
The cluster view of the control plane: C{GET /api/v1/cluster}, the
C{dhcpsuite_cluster_*} metrics and C{dhcpsuite-ctl cluster}, over a store
that provides L{ICluster} (the PostgreSQL store does; see
tests/integration/test_postgresql_store.py for the real one).
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from dhcpsuite.control import api, cli
from dhcpsuite.control.metrics import render_metrics
from dhcpsuite.interfaces import ICluster
from dhcpsuite.leases.memory import MemoryLeaseStore
from dhcpsuite.server.shares import RendezvousShare
from tests.unit.test_control import body_of, call, make_daemon

HOSTILE = "evil\x1b[31m:12:ab"


@implementer(ICluster)
class SharedStore(MemoryLeaseStore):
    def __init__(self) -> None:
        super().__init__()
        self.name = "a:1:aa"
        self.share = RendezvousShare(self.name, ["b:2:bb"])

    refusal = ""
    served: list = []

    def pools_refused(self, pools) -> str:
        return self.refusal

    def serve_pools(self, pools) -> None:
        self.served.append(list(pools))

    def members(self) -> list[dict]:
        return [
            {"id": "a:1:aa", "host": "a", "pid": 1, "pools": "10.0.0.10-10.0.0.19", "started": "", "heartbeat_age": 0.2,
             "session": True, "alive": True, "share": {"10.0.0.10-10.0.0.19": 6}, "self": True},
            {"id": "b:2:bb", "host": "b", "pid": 2, "pools": "10.0.0.10-10.0.0.19", "started": "", "heartbeat_age": 0.7,
             "session": True, "alive": True, "share": {"10.0.0.10-10.0.0.19": 4}, "self": False},
            {"id": HOSTILE, "host": None, "pid": None, "pools": "", "started": "", "heartbeat_age": 9.0,
             "session": False, "alive": False, "share": None, "self": False},
        ]


class ClusterViewTests(SynchronousTestCase):
    def test_not_shared(self) -> None:
        """
        SQLite and memory stores are no cluster: 404 with the reason, and no
        cluster metrics.
        """
        daemon, resource = make_daemon()
        request = call(resource, "GET", "api/v1/cluster")
        self.assertEqual(request.responseCode, 404)
        self.assertIn("postgresql", body_of(request)["error"])
        families = {f.name for f in text_string_to_metric_families(render_metrics(daemon).decode())}
        self.assertNotIn("dhcpsuite_cluster_members", families)

    def test_shared(self) -> None:
        daemon, resource = make_daemon()
        daemon.server.store = SharedStore()
        self.assertTrue(verifyObject(ICluster, daemon.server.store))
        data = body_of(call(resource, "GET", "api/v1/cluster"))
        self.assertEqual((data["self"], data["alive"], data["sharing"]), ("a:1:aa", 2, ["a:1:aa", "b:2:bb"]))
        self.assertEqual([m["id"] for m in data["members"]], ["a:1:aa", "b:2:bb", HOSTILE])
        families = {f.name: f for f in text_string_to_metric_families(render_metrics(daemon).decode())}
        self.assertEqual(families["dhcpsuite_cluster_members"].samples[0].value, 2)
        [share] = families["dhcpsuite_cluster_share_addresses"].samples
        self.assertEqual((share.labels, share.value), ({"pool": "10.0.0.10-10.0.0.19"}, 6))
        self.assertEqual(families["dhcpsuite_cluster_borrowed"].samples[0].value, 0)

    def test_ctl_table_escapes_what_the_database_says(self) -> None:
        """
        A member's id comes from the shared database, where any server (or
        anyone with write access) put it: shown escaped, never as a
        terminal escape sequence.
        """
        daemon, _ = make_daemon()
        daemon.server.store = SharedStore()
        text = cli._show_cluster(api.cluster(daemon))
        self.assertNotIn("\x1b", text)
        self.assertIn("* a:1:aa", text)
        self.assertIn("10.0.0.10-10.0.0.19:4", text)
        self.assertIn("no", text.splitlines()[3])


class ClusterReloadTests(SynchronousTestCase):
    def test_reload_to_pools_a_live_member_contradicts_is_refused(self) -> None:
        """
        A reload whose pools overlap a live member's but differ is refused
        as a start is, naming the key; an accepted one tells the cluster the
        pools this server serves now.
        """
        from dhcpsuite.config import ConfigError, parse_config_text
        from dhcpsuite.server.decide import ServerCore

        daemon, _ = make_daemon()
        server = daemon.server
        store = SharedStore()
        server.store = store
        server.core = ServerCore(server.config, store, {"lan0": __import__("ipaddress").IPv4Address("10.0.0.1")})
        new = parse_config_text("""
[server]
[[server.subnet]]
subnet = "10.0.0.0/24"
server_address = "10.0.0.1"
pool = ["10.0.0.10-10.0.0.29"]
""").section("server")
        store.refusal = "server b:2:bb serves pools 10.0.0.10-10.0.0.19, which overlap but differ"
        error = self.assertRaises(ConfigError, server.prepare_reconfigure, new)
        self.assertIn("server.subnet", str(error))
        self.assertIn("b:2:bb", str(error))
        store.refusal = ""
        server.prepare_reconfigure(new)()
        self.assertEqual(store.served, [[("10.0.0.10", "10.0.0.29")]])
