"""
C{python -m dhcpsuite.client}'s command line, read without argparse (which
costs ~10 ms of its cold start): the same options, C{--opt=value} and
C{--opt value} forms, C{--help}, and a usage error naming the problem.
"""

from __future__ import annotations

import io
import sys

from twisted.trial.unittest import SynchronousTestCase

from dhcpsuite.client.__main__ import Arguments, UsageError, main, parse_arguments


class ParseArgumentsTests(SynchronousTestCase):
    def test_options_in_both_forms(self) -> None:
        self.assertEqual(parse_arguments(["--config", "a.toml"]), Arguments("a.toml"))
        self.assertEqual(parse_arguments(["-c", "a.toml", "--state-dir=/s", "--early-timeout", "0.5"]),
                         Arguments("a.toml", "/s", 0.5))
        self.assertEqual(parse_arguments(["--early-timeout=0", "--config=b.toml"]), Arguments("b.toml", None, 0.0))
        self.assertEqual(parse_arguments(["-c", "a.toml", "--cache-dir", "", "--cache-entries=3"]),
                         Arguments("a.toml", cache_dir="", cache_entries=3))

    def test_help(self) -> None:
        self.assertIsNone(parse_arguments(["--config", "a", "-h"]))
        self.assertIsNone(parse_arguments(["--help"]))

    def test_errors_name_the_problem(self) -> None:
        for argv, problem in [
            ([], "--config is required"),
            (["--config"], "--config needs a value"),
            (["--config", "a", "--verbose"], "unrecognised argument '--verbose'"),
            (["--config", "a", "stray"], "unrecognised argument 'stray'"),
            (["--config", "a", "--early-timeout", "soon"], "--early-timeout: 'soon' is not a number"),
            (["--config", "a", "--cache-entries", "1.5"], "--cache-entries: '1.5' is not a number"),
            (["--config", "a", "--cache-entries=0"], "--cache-entries: '0' is less than 1"),
            (["--config", "a", "--early-timeout", "-1"], "--early-timeout: '-1' is less than 0"),
            (["--config", "a", "--early-timeout=nan"], "--early-timeout: 'nan' is not a number"),
            (["--config", "a", "--early-timeout", "inf"], "--early-timeout: 'inf' is not a number"),
        ]:
            with self.assertRaises(UsageError) as caught:
                parse_arguments(argv)
            self.assertEqual(str(caught.exception), problem)

    def test_main_exits_2_with_usage_on_stderr(self) -> None:
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        self.assertEqual(main(["--bogus"]), 2)
        self.assertIn("usage: python -m dhcpsuite.client --config FILE", stderr.getvalue())
        self.assertIn("error: unrecognised argument '--bogus'", stderr.getvalue())

    def test_main_help_exits_0(self) -> None:
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        self.assertEqual(main(["--help"]), 0)
        self.assertIn("--early-timeout SECONDS", stdout.getvalue())
