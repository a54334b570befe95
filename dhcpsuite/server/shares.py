# -*- test-case-name: tests.unit.test_server_shares -*-
"""
Free-address shares: which free addresses each live member of a cluster
offers new clients first (L{IAddressShare}).

Rendezvous (highest random weight) hashing: an address belongs to the
member whose weight for it, a 64-bit mix of the member's name and the
address, is highest. Every member computes the same owner from the same
sorted list of live members with no coordination beyond that list; a member
joining takes about 1/n of every other member's addresses and moves no
other address, and a member leaving gives each of its addresses to the
member next in weight for it. Contiguous slices would be balanced exactly
but move up to half of every pool on a join; isc-dhcpd failover's pool
balancing moves addresses between two peers by a protocol, which the
shared database makes unnecessary.

Pure: member names and addresses in, owners out.
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address
from typing import Iterable, Sequence

from zope.interface import implementer

from dhcpsuite.interfaces import IAddressShare

_MASK = (1 << 64) - 1
# Pools larger than this are counted on this many evenly spaced addresses
# (share sizes are for the operator; allocation asks per address).
SIZE_SAMPLE = 4096


def member_seed(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big")


def weight(seed: int, address: int) -> int:
    """
    The member's weight for an address: splitmix64's finaliser over the
    seed mixed with the address (well spread for consecutive addresses).
    """
    z = (seed ^ (address * 0x9E3779B97F4A7C15)) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def owner(address: IPv4Address | int, members: Sequence[str]) -> str:
    """
    The member owning C{address} among C{members} (not empty); ties, which
    need equal 64-bit weights, go to the greater name.
    """
    value = int(address)
    return max(members, key=lambda name: (weight(member_seed(name), value), name))


def share_sizes(first: IPv4Address, last: IPv4Address, members: Sequence[str]) -> dict[str, int]:
    """
    How many of the addresses C{first}..C{last} each member owns; counted
    exactly up to L{SIZE_SAMPLE} addresses, estimated from a sample above.
    """
    start, end = int(first), int(last)
    size = end - start + 1
    counts = dict.fromkeys(members, 0)
    if not members or size <= 0:
        return counts
    seeds = [(member_seed(name), name) for name in members]
    step = max(1, size // SIZE_SAMPLE)
    sampled = 0
    for value in range(start, end + 1, step):
        counts[max(seeds, key=lambda s: (weight(s[0], value), s[1]))[1]] += 1
        sampled += 1
    if step > 1:
        counts = {name: round(count * size / sampled) for name, count in counts.items()}
    return counts


@implementer(IAddressShare)
class WholeShare:
    """
    Every address is this server's: a store no other server shares.
    """

    generation = 0
    whole = True

    def mine(self, address: IPv4Address) -> bool:
        return True


@implementer(IAddressShare)
class RendezvousShare:
    """
    This server's share among the live members serving the same pools,
    told by L{set_members} (in the reactor thread) when that list changes.
    """

    def __init__(self, name: str, members: Iterable[str] = ()) -> None:
        self.name = name
        self.generation = 0
        self.members: tuple[str, ...] = (name,)
        self._seed = member_seed(name)
        self._others: list[tuple[int, str]] = []
        self.set_members(members)

    @property
    def whole(self) -> bool:
        return not self._others

    def set_members(self, members: Iterable[str]) -> bool:
        """
        The live members now (this one is always among them: it serves).

        @return: whether the shares changed.
        """
        names = tuple(sorted(set(members) | {self.name}))
        if names == self.members:
            return False
        self.members = names
        self._others = [(member_seed(n), n) for n in names if n != self.name]
        self.generation += 1
        return True

    def mine(self, address: IPv4Address) -> bool:
        value = int(address)
        ours = (weight(self._seed, value), self.name)
        for seed, name in self._others:
            if (weight(seed, value), name) > ours:
                return False
        return True
