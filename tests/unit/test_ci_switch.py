"""
The CI switch (C{DHCPSUITE_REQUIRE_ALL}) turns every pytest skip into a
failure, whatever raised it, so a test that silently stops running cannot
pass CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

_ROOT = Path(__file__).resolve().parents[2]

_PROBES = {
    "bare call and marker": (
        "import pytest\n\ndef test_bare():\n    pytest.skip('probe')\n\n"
        "@pytest.mark.skip(reason='probe')\ndef test_marker():\n    pass\n"
    ),
    "importorskip": "import pytest\npytest.importorskip('dhcpsuite_no_such_module')\n\ndef test_probe():\n    pass\n",
}


def _run_probe(source: str, require_all: bool) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as directory:
        probe = Path(directory) / "test_probe.py"
        probe.write_text(source)
        env = dict(os.environ, DHCPSUITE_REQUIRE_ALL="1" if require_all else "0")
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
             "--rootdir", directory, str(probe)],
            cwd=_ROOT, env=env, capture_output=True, text=True, timeout=120,
        )


class RequireAllTests(SynchronousTestCase):
    def test_every_kind_of_skip_fails_in_ci(self) -> None:
        for kind, source in _PROBES.items():
            result = _run_probe(source, require_all=True)
            self.assertNotEqual(result.returncode, 0, f"{kind}: {result.stdout}")
            self.assertIn("DHCPSUITE_REQUIRE_ALL is set", result.stdout, kind)
            self.assertNotIn("skipped", result.stdout.splitlines()[-1], kind)

    def test_a_skip_stays_a_skip_on_a_laptop(self) -> None:
        result = _run_probe(_PROBES["bare call and marker"], require_all=False)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("2 skipped", result.stdout)
