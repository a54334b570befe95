# -*- test-case-name: tests.unit.test_records -*-
"""
Frozen value classes for the modules the client's early path imports
(L{dhcpsuite.client.early}: the codec, the client's state machine and
configuration, the configuration file).

Why not C{attrs} there: importing it costs ~40 ms of a ~90 ms cold start
(it imports C{inspect}, C{typing} and C{platform}, and compiles each class's
methods when the class is made), and that start races a C program. A
L{Record} is declared like an C{attrs.frozen} class (annotated fields, in
order, defaults as class attributes) and behaves like one: keyword or
positional construction, no assignment after it, equality and hashing by
value (or by identity with C{eq=False}), a readable C{repr}, and L{evolve}
for a changed copy. Nothing is generated or compiled: making the class
costs a few microseconds. The rest of the project keeps C{attrs}.
"""

from __future__ import annotations

_MISSING = object()


class Record:
    """
    Subclass with annotated fields::

        class Send(Record):
            message: Message
            server: IPv4Address | None = None

    C{class Lease(Record, eq=False)} compares and hashes by identity.

    @cvar _fields: the field names, in order (the named-tuple convention,
        which L{dhcpsuite.control.api.jsonable} reads).
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _defaults: dict[str, object] = {}

    def __init_subclass__(cls, eq: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        names = tuple(name for name in cls.__dict__.get("__annotations__", {}) if not name.startswith("_"))
        defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
        for index, name in enumerate(names):
            if name not in defaults and any(n in defaults for n in names[:index]):
                raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one with a default")
        cls._fields = names
        cls._defaults = defaults
        if not eq:
            cls.__eq__ = object.__eq__  # type: ignore[method-assign]
            cls.__hash__ = object.__hash__  # type: ignore[method-assign]

    def __init__(self, *args: object, **kwargs: object) -> None:
        names = self._fields
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes {len(names)} arguments, {len(args)} given")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in names:
                raise TypeError(f"{type(self).__name__}() has no field {name!r}")
            if name in values:
                raise TypeError(f"{type(self).__name__}() got {name!r} twice")
            values[name] = value
        setter = object.__setattr__
        defaults = self._defaults
        for name in names:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__}() needs {name!r}")
            setter(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"


def evolve(record: Record, **changes: object) -> Record:
    """
    A copy of C{record} with C{changes} (C{attrs.evolve} for L{Record}s).
    """
    values = {name: getattr(record, name) for name in record._fields}
    values.update(changes)
    return type(record)(**values)
