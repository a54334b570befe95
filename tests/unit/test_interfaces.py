"""
Every implementation of a dhcpsuite seam really provides it: each class
declared with C{@implementer} passes C{verifyClass} (found by walking the
package, so a new one is checked without editing this file), and the ones
that can be built without I/O pass C{verifyObject}.
"""

from __future__ import annotations

import collections
import importlib
import inspect
import pkgutil
import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import Interface, implementedBy
from zope.interface.verify import verifyClass, verifyObject

import dhcpsuite
from dhcpsuite import interfaces
from tests.unit.test_lease_stores import ThreadCallReactor


def dhcpsuite_modules() -> list[str]:
    # __main__ modules run when imported; they are entry points, not seams.
    return sorted(
        info.name
        for info in pkgutil.walk_packages(dhcpsuite.__path__, "dhcpsuite.")
        if not info.name.endswith("__main__")
    )


def implementations() -> list[tuple[type, type]]:
    found = []
    for name in dhcpsuite_modules():
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            for iface in implementedBy(cls):
                if iface.__module__.startswith("dhcpsuite."):
                    found.append((iface, cls))
    return found


class InterfaceModuleTests(SynchronousTestCase):
    def test_every_seam_is_an_interface(self) -> None:
        seams = [v for v in vars(interfaces).values() if isinstance(v, type(Interface)) and v is not Interface]
        self.assertGreaterEqual(len(seams), 8)
        for seam in seams:
            with self.subTest(seam=seam.__name__):
                self.assertTrue(seam.__name__.startswith("I"))
                self.assertTrue(seam.__doc__)

    def test_lease_store_methods(self) -> None:
        self.assertEqual(
            sorted(interfaces.ILeaseStore.names()),
            ["__contains__", "add_observer", "addresses", "close", "committed", "find_by_client", "get", "holders", "leases", "put", "remove", "remove_observer", "states"],
        )


class ImplementationTests(SynchronousTestCase):
    def test_found_the_known_implementations(self) -> None:
        found = {(iface.__name__, cls.__name__) for iface, cls in implementations()}
        for expected in (
            ("ILeaseStore", "MemoryLeaseStore"),
            ("ILeaseStore", "SQLiteLeaseStore"),
            ("IPacketSink", "ServerProtocol"),
        ):
            self.assertIn(expected, found)

    def test_verify_class_for_every_implementation(self) -> None:
        for iface, cls in implementations():
            with self.subTest(cls=f"{cls.__module__}.{cls.__name__}", iface=iface.__name__):
                self.assertTrue(verifyClass(iface, cls))

    def test_memory_lease_store(self) -> None:
        from dhcpsuite.leases.memory import MemoryLeaseStore

        self.assertTrue(verifyObject(interfaces.ILeaseStore, MemoryLeaseStore()))

    def test_sqlite_lease_store(self) -> None:
        from dhcpsuite.leases.sqlite import SQLiteLeaseStore

        directory = tempfile.mkdtemp(prefix="dhcpsuite-iface-")
        self.addCleanup(shutil.rmtree, directory, True)
        reactor = ThreadCallReactor()
        store = SQLiteLeaseStore(os.path.join(directory, "leases.sqlite3"), reactor=reactor)
        self.assertTrue(verifyObject(interfaces.ILeaseStore, store))
        reactor.run_until(store.close())
        self.assertTrue(store.join(10))

    def test_server_protocol(self) -> None:
        from dhcpsuite.server.protocol import ServerProtocol

        protocol = ServerProtocol(object(), "eth0", collections.Counter())
        self.assertTrue(verifyObject(interfaces.IPacketSink, protocol))

    def test_recording_lease_listener(self) -> None:
        from dhcpsuite.leases.registry import RecordingLeaseListener

        self.assertTrue(verifyObject(interfaces.ILeaseListener, RecordingLeaseListener()))

    def test_recording_configurator(self) -> None:
        from dhcpsuite.netlink.testing import RecordingConfigurator

        self.assertTrue(verifyObject(interfaces.IInterfaceConfigurator, RecordingConfigurator()))
