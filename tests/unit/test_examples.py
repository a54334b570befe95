"""
Every example configuration shipped in the repository is valid.
"""

import glob
import os

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ExampleConfigTests(SynchronousTestCase):
    def test_examples_are_valid(self) -> None:
        paths = sorted(glob.glob(os.path.join(ROOT, "examples", "*.toml")))
        self.assertTrue(paths, "no example configurations found")
        for path in paths:
            config = load_config(path)
            self.assertTrue(list(config), f"{path} configures nothing")

    def test_embedded_default_matches_example(self) -> None:
        with open(os.path.join(ROOT, "examples", "default.toml")) as a, open(
            os.path.join(ROOT, "dhcpsuite", "examples", "default.toml")
        ) as b:
            self.assertEqual(a.read(), b.read())
