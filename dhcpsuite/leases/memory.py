# -*- test-case-name: tests.unit.test_lease_stores -*-
"""
The in-memory lease store: the index every store keeps, and on its own the
store for tests and for servers that need no persistence.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Iterator

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from dhcpsuite.interfaces import ILeaseStore
from dhcpsuite.leases.lease import Lease


@implementer(ILeaseStore)
class MemoryLeaseStore:
    def __init__(self) -> None:
        self._by_address: dict[IPv4Address, Lease] = {}
        self._by_client: dict[bytes, set[IPv4Address]] = {}

    def get(self, address: IPv4Address) -> Lease | None:
        return self._by_address.get(address)

    def find_by_client(self, client_key: bytes) -> list[Lease]:
        addresses = self._by_client.get(client_key)
        if not addresses:
            return []
        return [self._by_address[a] for a in addresses]

    def put(self, lease: Lease, durable: bool = True) -> None:
        self._index(lease)

    def remove(self, address: IPv4Address) -> None:
        self._unindex(address)

    def leases(self) -> Iterator[Lease]:
        return iter(list(self._by_address.values()))

    def __len__(self) -> int:
        return len(self._by_address)

    def committed(self) -> Deferred:
        return succeed(None)

    def close(self) -> Deferred:
        return succeed(None)

    def _index(self, lease: Lease) -> None:
        old = self._by_address.get(lease.address)
        if old is not None and old.client_key != lease.client_key:
            self._forget_client(old.client_key, old.address)
        self._by_address[lease.address] = lease
        if lease.client_key:
            self._by_client.setdefault(lease.client_key, set()).add(lease.address)

    def _unindex(self, address: IPv4Address) -> None:
        old = self._by_address.pop(address, None)
        if old is not None:
            self._forget_client(old.client_key, address)

    def _forget_client(self, client_key: bytes, address: IPv4Address) -> None:
        addresses = self._by_client.get(client_key)
        if addresses is not None:
            addresses.discard(address)
            if not addresses:
                del self._by_client[client_key]
