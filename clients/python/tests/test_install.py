"""``pip install ./clients/python`` gives an importable ``veilbox`` package (no server needed).

Installs into a fresh virtual environment (with the system's site packages,
so pandas and setuptools come from the system) without network: no build
isolation, no index. The package is copied first, so the build leaves
nothing in the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


class Install(unittest.TestCase):
    def test_pip_install_gives_an_importable_package(self) -> None:
        with tempfile.TemporaryDirectory(prefix="veilbox-py-install-") as tmp:
            venv = Path(tmp) / "venv"
            made = subprocess.run(
                [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], capture_output=True, text=True
            )
            if made.returncode != 0:
                self.skipTest(f"no venv module in this Python (Debian: python3-venv): {made.stderr.strip()[-200:]}")
            src = Path(tmp) / "python"
            shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
            python = venv / "bin" / "python"
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
            pip = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index", str(src)],
                capture_output=True,
                text=True,
                timeout=300,
                env=env,
            )
            self.assertEqual(pip.returncode, 0, pip.stdout + pip.stderr)
            out = subprocess.run(
                [str(python), "-c", "import veilbox, sys; print(veilbox.__version__); print(veilbox.__file__)"],
                capture_output=True,
                text=True,
                cwd=tmp,
                env=env,
            )
            self.assertEqual(out.returncode, 0, out.stderr)
            version, where = out.stdout.splitlines()
            self.assertEqual(version, "0.1.0")
            self.assertTrue(where.startswith(str(venv)), where)
            typed = list((venv / "lib").glob("python3*/site-packages/veilbox/py.typed"))
            self.assertEqual(len(typed), 1, "py.typed is installed")


if __name__ == "__main__":
    unittest.main()
