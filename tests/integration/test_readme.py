"""The README's curl walk-through works as written."""

from __future__ import annotations

import subprocess

from .conftest import ROOT


def test_readme_walkthrough_runs(stack):
    text = (ROOT / "README.md").read_text()
    start = text.index("```sh\nBASE=") + len("```sh\n")
    script = text[start : text.index("```", start)]
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "message: {'sample': 1}" in out.stdout
    assert '"status": "COMPLETE"' in out.stdout
    assert "Actor deleted successfully." in out.stdout
    assert '"status": "error"' not in out.stdout
