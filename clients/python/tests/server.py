"""Start a real veilbox server for the Python client's tests.

It runs the service the way ``npm start`` does (``veilbox serve --demo``:
embedded SQLite, the demo datasets and one key per role in
``demo-keys.json``), on a free port of 127.0.0.1, with a fresh temporary data
directory and a custodian key directory beside it, and removes both when
stopped. It runs the compiled CLI (``bin/veilbox.js``, which needs ``dist/``
from ``npm run build``; ``.ci/run`` builds it) when it is there, and the
sources through tsx otherwise; ``VEILBOX_TEST_SERVER_FROM=src`` or ``dist``
forces one. Readiness is ``GET /healthz`` answering 200, so nothing depends on
the wording of the server's log lines.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[3]
NODE = os.environ.get("VEILBOX_TEST_NODE") or shutil.which("node") or "node"


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command() -> List[str]:
    """The node command line that runs the ``veilbox`` CLI (dist when built, else sources via tsx)."""
    mode = os.environ.get("VEILBOX_TEST_SERVER_FROM")
    built = (ROOT / "dist" / "cli" / "main.js").exists()
    if mode == "dist" or (mode is None and built):
        return [NODE, str(ROOT / "bin" / "veilbox.js")]
    if mode not in (None, "src"):
        raise ValueError(f"VEILBOX_TEST_SERVER_FROM must be 'src' or 'dist', got {mode!r}")
    return [NODE, "--import", "tsx", str(ROOT / "test" / "helpers" / "cli-entry.ts")]


class DemoServer:
    """One ``veilbox serve --demo`` process; ``url`` and ``keys`` (the demo-keys.json) once started."""

    def __init__(self) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="veilbox-py-")
        self.custodian_dir = self.data_dir + "-custodian"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir + ".log"
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.keys: Dict[str, Any] = {}

    def start(self, timeout: float = 240.0) -> "DemoServer":
        env = dict(os.environ)
        env.update(
            VEILBOX_LOG_LEVEL="warn",
            VEILBOX_RATE_LIMIT="10000000",
            VEILBOX_CUSTODIAN_DIR=self.custodian_dir,
        )
        cmd = server_command() + ["serve", "--demo", "--port", str(self.port), "--data-dir", self.data_dir]
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                message = f"veilbox exited with {self.process.returncode}: {self.log()}"
                self.stop()
                raise RuntimeError(message)
            if self._healthy():
                keys_file = Path(self.data_dir) / "demo-keys.json"
                self.keys = json.loads(keys_file.read_text("utf-8"))
                return self
            time.sleep(0.25)
        message = f"veilbox did not answer /healthz within {timeout:.0f} s: {self.log()}"
        self.stop()
        raise RuntimeError(message)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as res:
                return res.status == 200
        except OSError:
            return False

    def log(self) -> str:
        """The server's output so far (for failure messages)."""
        try:
            return Path(self.log_path).read_text("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s) and remove its directories."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for path in (self.data_dir, self.custodian_dir):
            shutil.rmtree(path, ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
