"""
Coverage-guided fuzzing (atheris) of the code that reads untrusted bytes:
packet decode, the overload walk, configuration parsing and (when present)
the plugin-message decoder. Each target runs for DHCPSUITE_FUZZ_SECONDS
(default 60, about a minute as the hardening issue asks) from the checked-in corpus under tests/fuzz/corpus/<target>/;
new inputs go to a temporary directory so the corpus only changes by hand.
A crash leaves its input in test-artifacts/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.environment import require_module

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
REPOSITORY = FUZZ.parents[1]
SECONDS = int(os.environ.get("DHCPSUITE_FUZZ_SECONDS", "60"))
TARGETS = sorted(p.stem[len("fuzz_") :] for p in FUZZ.glob("fuzz_*.py"))


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target(target, tmp_path):
    require_module("atheris")
    artifacts = REPOSITORY / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    result = subprocess.run(
        [
            sys.executable, str(FUZZ / f"fuzz_{target}.py"), str(tmp_path), str(FUZZ / "corpus" / target),
            f"-max_total_time={SECONDS}", "-rss_limit_mb=2048", "-timeout=10",
            f"-artifact_prefix={artifacts}/fuzz-{target}-",
        ],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=SECONDS + 120,
    )
    tail = "\n".join(result.stderr.splitlines()[-40:])
    assert result.returncode == 0, f"fuzz target {target} found a failure:\n{tail}"
    assert "Done" in result.stderr, tail
