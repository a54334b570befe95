"""
The [netlink] section and the service built from it.
"""

from __future__ import annotations

from twisted.application.service import IService
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from dhcpsuite.config import ConfigError, Section
from dhcpsuite.interfaces import IComponentHealth, IInterfaceConfigurator
from dhcpsuite.netlink.config import NetlinkConfig, parse_netlink_config
from dhcpsuite.netlink.service import make_netlink_service
from dhcpsuite.netlink.testing import MemoryNetlinkSystem


def parse(data):
    section = Section(data, "netlink")
    config = parse_netlink_config(section)
    section.finish()
    return config


class ConfigTests(SynchronousTestCase):
    def test_defaults(self):
        self.assertEqual(parse({}), NetlinkConfig())

    def test_every_key(self):
        config = parse({
            "receive_buffer": 1 << 22, "request_timeout": 2, "decoder": "pyroute2", "netns": "blue",
            "resync": {"min_interval": 0.5}, "readiness": {"debounce": 1.5},
        })
        self.assertEqual(config, NetlinkConfig(1 << 22, 2.0, "pyroute2", "blue", 0.5, 1.5))

    def test_errors_name_the_key(self):
        for data, message in (
            ({"receive_buffer": 10}, "netlink.receive_buffer: 10 is less than 4096"),
            ({"decoder": "slow"}, "netlink.decoder: 'slow' is not one of fast, pyroute2"),
            ({"resync": {"min_intervall": 1}}, "netlink.resync.min_intervall: is not a known key here"),
            ({"readiness": {"debounce": -1}}, "netlink.readiness.debounce: -1 is less than 0.0"),
            ({"netns": ""}, "netlink.netns: must name a namespace (or be left out)"),
            ({"rcvbuf": 1}, "netlink.rcvbuf: is not a known key here"),
        ):
            self.assertEqual(str(self.assertRaises(ConfigError, parse, data)), message)


class ServiceTests(SynchronousTestCase):
    def test_lifecycle(self):
        clock = MemoryReactorClock()
        system = MemoryNetlinkSystem()
        service = make_netlink_service(NetlinkConfig(netns="blue", receive_buffer=1 << 21), reactor=clock, system=system)
        verifyObject(IService, service)
        verifyObject(IComponentHealth, service)
        verifyObject(IInterfaceConfigurator, service.configurator)
        service.privilegedStartService()
        self.assertEqual(sorted(s.netns for s in system.sockets.values()), ["blue", "blue"])
        self.assertEqual(sorted(s.receive_buffer for s in system.sockets.values())[-1], 1 << 21)
        service.startService()
        self.assertIn(service.reader, clock.getReaders())
        self.assertIn(service.configurator, clock.getReaders())
        clock.advance(0)
        service.reader.doRead()
        self.assertTrue(service.health()["ok"])
        service.stopService()
        self.assertEqual(system.sockets, {})
        self.assertEqual(clock.getReaders(), [])
        self.assertEqual(clock.getDelayedCalls(), [])
