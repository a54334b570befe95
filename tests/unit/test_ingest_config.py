# -*- test-case-name: tests.unit.test_ingest_config -*-
"""
The [ingest] section.
"""

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import ConfigError, Section, parse_config_text
from dhcpsuite.ingest import layout
from dhcpsuite.ingest.config import IngestConfig, parse_ingest_config
from dhcpsuite.ingest.protocol import Limits


def parse(**data):
    section = Section(data, "ingest")
    cfg = parse_ingest_config(section)
    section.finish()
    return cfg


class ConfigTests(SynchronousTestCase):
    def test_defaults(self):
        cfg = parse()
        self.assertEqual(cfg, IngestConfig())
        self.assertEqual(cfg.endpoint, "tcp:50324:interface=127.0.0.1")
        self.assertEqual((cfg.max_message_size, cfg.handshake_timeout), (4096, 1.0))
        self.assertEqual((cfg.transport, cfg.twisted_endpoint), ("tcp", "tcp:50324:interface=127.0.0.1"))
        self.assertEqual(cfg.limits, Limits(max_message_size=4096, handshake_timeout=1.0, max_connections=64,
                                            message_timeout=5.0, idle_timeout=30.0, max_buffered=1048576))
        self.assertEqual((cfg.ipc_mode, cfg.max_unmanaged_interfaces), (0o600, 256))
        self.assertEqual((cfg.layout, cfg.pinned_layout), ("auto", None))
        self.assertEqual((cfg.interfaces, cfg.accept_unmanaged, cfg.apply_to_interface), ((), False, False))

    def test_everything(self):
        cfg = parse(endpoint="tcp:0:interface=127.0.0.2", max_message_size=4096, handshake_timeout=2,
                    layout="ilp32", interfaces=["erouter0", "wan1"], accept_unmanaged=True,
                    apply_to_interface=True)
        self.assertEqual(cfg, IngestConfig("tcp:0:interface=127.0.0.2", 4096, 2.0, "ilp32", ("erouter0", "wan1"),
                                           True, True))
        self.assertIs(cfg.pinned_layout, layout.get_layout("ilp32"))
        self.assertEqual(parse(interfaces="erouter0").interfaces, ("erouter0",))

    def test_errors_name_the_key(self):
        for data, key in (
            ({"endpoint": "nonsense:1"}, "ingest.endpoint"),
            ({"endpoint": ""}, "ingest.endpoint"),
            ({"endpoint": 5}, "ingest.endpoint"),
            ({"max_message_size": 100}, "ingest.max_message_size"),
            ({"max_message_size": 2 ** 40}, "ingest.max_message_size"),
            ({"handshake_timeout": 0}, "ingest.handshake_timeout"),
            ({"layout": "sparc"}, "ingest.layout"),
            ({"interfaces": ["ok", "x" * 40]}, "ingest.interfaces[1]"),
            ({"interfaces": ["a/b"]}, "ingest.interfaces[0]"),
            ({"accept_unmanaged": "yes"}, "ingest.accept_unmanaged"),
            ({"apply": True}, "ingest.apply"),
            ({"endpoint": "ipc://"}, "ingest.endpoint"),
            ({"ipc_mode": "0999"}, "ingest.ipc_mode"),
            ({"ipc_mode": "rw"}, "ingest.ipc_mode"),
            ({"ipc_mode": 600}, "ingest.ipc_mode"),
            ({"max_connections": 0}, "ingest.max_connections"),
            ({"message_timeout": 0}, "ingest.message_timeout"),
            ({"idle_timeout": -1}, "ingest.idle_timeout"),
            ({"max_unmanaged_interfaces": -1}, "ingest.max_unmanaged_interfaces"),
            # The budget must hold one whole message of the maximum size.
            ({"max_message_size": 65536, "max_buffered_bytes": 65536}, "ingest.max_buffered_bytes"),
        ):
            e = self.assertRaises(ConfigError, parse, **data)
            self.assertEqual(e.path, key, data)

    def test_limits(self):
        cfg = parse(max_connections=8, message_timeout=2, idle_timeout=10, max_buffered_bytes=100000,
                    max_message_size=8192, max_unmanaged_interfaces=0)
        self.assertEqual(cfg.limits, Limits(max_message_size=8192, handshake_timeout=1.0, max_connections=8,
                                            message_timeout=2.0, idle_timeout=10.0, max_buffered=100000))
        self.assertEqual(cfg.max_unmanaged_interfaces, 0)

    def test_ipc_endpoint(self):
        """
        nanomsg's ipc:// address (what the plugins take) becomes a UNIX socket
        with ipc_mode (0600 unless set); a Twisted unix: string gets the mode
        unless it says one.
        """
        cfg = parse(endpoint="ipc:///run/dhcpsuite/ingest.sock")
        self.assertEqual((cfg.transport, cfg.twisted_endpoint),
                         ("ipc", "unix:/run/dhcpsuite/ingest.sock:mode=600:lockfile=0"))
        cfg = parse(endpoint="ipc:///tmp/a:b=c.sock", ipc_mode="0660")
        self.assertEqual(cfg.twisted_endpoint, "unix:/tmp/a\\:b\\=c.sock:mode=660:lockfile=0")
        self.assertEqual(parse(endpoint="unix:/tmp/x.sock").twisted_endpoint, "unix:/tmp/x.sock:mode=600")
        self.assertEqual(parse(endpoint="unix:/tmp/x.sock:mode=620").twisted_endpoint, "unix:/tmp/x.sock:mode=620")
        self.assertEqual(parse(endpoint="unix:/tmp/x.sock").transport, "ipc")
        self.assertEqual(parse(endpoint="ipc:///run/i.sock").ipc_path, "/run/i.sock")
        self.assertIsNone(parse().ipc_path)

    def test_whole_document(self):
        config = parse_config_text('[ingest]\ninterfaces = ["erouter0"]\n')
        self.assertEqual(config.section("ingest").interfaces, ("erouter0",))
