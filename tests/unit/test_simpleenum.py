"""
L{dhcpsuite.simpleenum}: every enum class made with it is the class the
enum metaclass makes from the same body, by the standard library's own
check (C{enum._test_simple_enum}: members, values, names, C{repr}, C{str},
C{format}, lookup by value, the class's attributes).
"""

from __future__ import annotations

import enum
import pickle
import subprocess
import sys
from pathlib import Path
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite import simpleenum
from dhcpsuite.client.core import machine
from dhcpsuite.dhcp4 import constants, options

REPOSITORY = Path(__file__).resolve().parents[2]

MADE_SIMPLE = [
    (constants.MessageType, enum.IntEnum),
    (constants.Option, enum.IntEnum),
    (constants.RelayAgentSubOption, enum.IntEnum),
    (options.HookFormat, enum.Enum),
    (machine.State, enum.Enum),
    (machine.Event, enum.StrEnum),
    (machine.Outcome, enum.StrEnum),
    (machine.Deadline, enum.StrEnum),
]


def reference(made: type[enum.Enum], base: type[enum.Enum]) -> type[enum.Enum]:
    """
    What C{class Name(base)} with the same members would have made.
    """
    body = type(made.__name__, (), {m.name: m.value for m in made})
    body.__module__, body.__qualname__, body.__doc__ = made.__module__, made.__qualname__, made.__doc__
    return simpleenum.by_metaclass(base, body)


class SimpleEnumTests(SynchronousTestCase):
    def test_every_class_is_the_metaclass_made_one(self):
        """
        Checked in a fresh interpreter, as the classes are when made: other
        tests may ask zope.interface about a class, which caches its answer
        in the class's dictionary.
        """
        code = (
            "import enum\n"
            "from tests.unit.test_simpleenum import MADE_SIMPLE, reference\n"
            "for made, base in MADE_SIMPLE:\n"
            "    enum._test_simple_enum(reference(made, base), made)\n"
            "    assert isinstance(made, enum.EnumType) and issubclass(made, base), made\n"
            "print(len(MADE_SIMPLE))\n"
        )
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY)
        self.assertEqual((output.returncode, output.stdout.strip()), (0, str(len(MADE_SIMPLE))), output.stderr)

    def test_behaviour_the_codec_and_machine_rely_on(self):
        Option, MessageType, State = constants.Option, constants.MessageType, machine.State
        self.assertIs(Option(53), Option.MESSAGE_TYPE)
        self.assertRaises(ValueError, Option, 200)
        self.assertEqual(Option.ROUTER + 0, 3)
        self.assertEqual(f"{MessageType.ACK}", "5")
        self.assertEqual(repr(MessageType.ACK), "<MessageType.ACK: 5>")
        self.assertEqual(State("INIT-REBOOT"), State.INIT_REBOOT)
        self.assertEqual(str(machine.Event.BOUND), "BOUND")
        self.assertEqual(machine.Deadline.T1, "t1")
        self.assertIs(pickle.loads(pickle.dumps(State.BOUND)), State.BOUND)
        self.assertEqual(len(Option), len(Option.__members__))
        self.assertIn("lease", machine.Event.__doc__)

    def test_without_the_standard_librarys_maker(self):
        """
        A Python without C{enum._simple_enum}: the metaclass makes the class
        from the same body, and it is the same class.
        """
        with mock.patch.object(simpleenum, "_STDLIB_MAKER", None):
            @simpleenum.simple_enum(enum.IntEnum)
            class Kind:
                """Two kinds."""

                ONE = 1
                TWO = 2

        self.assertIsInstance(Kind, enum.EnumType)
        self.assertEqual([(k.name, k.value) for k in Kind], [("ONE", 1), ("TWO", 2)])
        self.assertEqual(Kind.__doc__, "Two kinds.")
        self.assertIs(Kind(2), Kind.TWO)
        self.assertIsNone(enum._test_simple_enum(Kind, simpleenum.simple_enum(enum.IntEnum)(
            type("Kind", (), {"__qualname__": Kind.__qualname__, "__module__": Kind.__module__, "__doc__": "Two kinds.",
                              "ONE": 1, "TWO": 2}))))
