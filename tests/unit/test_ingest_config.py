# -*- test-case-name: tests.unit.test_ingest_config -*-
"""
The [ingest] section.
"""

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import ConfigError, Section, parse_config_text
from dhcpsuite.ingest import layout
from dhcpsuite.ingest.config import IngestConfig, parse_ingest_config


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
        self.assertEqual((cfg.max_message_size, cfg.handshake_timeout), (1048576, 1.0))
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
        ):
            e = self.assertRaises(ConfigError, parse, **data)
            self.assertEqual(e.path, key, data)

    def test_whole_document(self):
        config = parse_config_text('[ingest]\ninterfaces = ["erouter0"]\n')
        self.assertEqual(config.section("ingest").interfaces, ("erouter0",))
