# -*- test-case-name: tests.unit.test_simpleenum -*-
"""
Enum classes made as the standard library makes its own (C{re.RegexFlag},
C{http.HTTPStatus}, C{signal.Signals}): from a plain class body, without the
enum metaclass's work for every member.

Why: the codec's and the client machine's enums are made on every start of
C{python -m dhcpsuite.client}, which races a C program; the metaclass takes
~15 µs per member here (C{Option}, 52 members: ~0.8 ms), C{enum._simple_enum}
under half of that. The classes are the same: same members, values,
C{repr}, C{str}, lookup by value, pickling; C{tests.unit.test_simpleenum}
checks every class made here against the metaclass-made one with the
standard library's own check, C{enum._test_simple_enum}.

C{_simple_enum} is the standard library's own, not a public name: where a
Python has none, the metaclass makes the class from the same body.
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the client's early path does not import typing
    from collections.abc import Callable

_STDLIB_MAKER = getattr(enum, "_simple_enum", None)


def simple_enum(base: type[enum.Enum]) -> Callable[[type], type]:
    """
    A class decorator: the class's public attributes as the members of an
    enum of C{base} (C{enum.Enum}, C{IntEnum}, C{StrEnum})::

        @simple_enum(IntEnum)
        class MessageType:
            DISCOVER = 1
    """
    if _STDLIB_MAKER is not None:
        return _STDLIB_MAKER(base)
    return lambda cls: by_metaclass(base, cls)


def by_metaclass(base: type[enum.Enum], cls: type) -> type:
    """
    The enum the metaclass makes from C{cls}'s body (what
    C{class cls(base)} would have made).
    """
    members = [(name, value) for name, value in vars(cls).items() if not name.startswith("_")]
    made = base(cls.__name__, members, module=cls.__module__, qualname=cls.__qualname__)  # type: ignore[call-overload]
    made.__doc__ = cls.__doc__
    return made
