"""
L{dhcpsuite.records.Record}: the early path's frozen value classes behave as
the C{attrs.frozen} classes they replaced.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.records import Record, evolve


class Point(Record):
    """
    A doc string and a method stay on the class.
    """

    x: int
    y: int = 0
    label: str | None = None

    def moved(self, dx: int) -> "Point":
        return evolve(self, x=self.x + dx)


class Identity(Record, eq=False):
    value: int


class RecordTests(SynchronousTestCase):
    def test_fields_in_order_with_defaults(self) -> None:
        self.assertEqual(Point._fields, ("x", "y", "label"))
        self.assertEqual(Point(1), Point(x=1, y=0, label=None))
        self.assertEqual(Point(1, 2, "a").label, "a")
        self.assertEqual(Point.__doc__.strip(), "A doc string and a method stay on the class.")

    def test_missing_unknown_and_repeated_arguments_are_refused(self) -> None:
        self.assertRaises(TypeError, Point)
        self.assertRaises(TypeError, Point, 1, z=2)
        self.assertRaises(TypeError, Point, 1, x=2)
        self.assertRaises(TypeError, Point, 1, 2, "a", "extra")

    def test_frozen(self) -> None:
        point = Point(1)
        with self.assertRaises(AttributeError):
            point.x = 2  # type: ignore[misc]
        with self.assertRaises(AttributeError):
            del point.x
        self.assertEqual(point.x, 1)

    def test_equality_and_hash_by_value_and_type(self) -> None:
        self.assertEqual(Point(1, 2), Point(1, 2))
        self.assertNotEqual(Point(1, 2), Point(1, 3))
        self.assertEqual(hash(Point(1, 2)), hash(Point(1, 2)))
        self.assertEqual(len({Point(1, 2), Point(1, 2), Point(2)}), 2)
        self.assertNotEqual(Point(1), (1, 0, None))

    def test_eq_false_compares_by_identity(self) -> None:
        a, b = Identity(1), Identity(1)
        self.assertNotEqual(a, b)
        self.assertEqual(a, a)
        self.assertEqual(len({a, b}), 2)

    def test_repr_names_the_fields(self) -> None:
        self.assertEqual(repr(Point(1, label="a")), "Point(x=1, y=0, label='a')")

    def test_evolve_copies_with_changes(self) -> None:
        point = Point(1, 2)
        self.assertEqual(evolve(point, y=5), Point(1, 5))
        self.assertEqual(point, Point(1, 2))
        self.assertEqual(point.moved(3), Point(4, 2))
        self.assertRaises(TypeError, evolve, point, z=1)

    def test_a_required_field_after_a_default_is_refused(self) -> None:
        with self.assertRaises(TypeError):
            class Bad(Record):
                a: int = 0
                b: int
