"""Real server processes for the fault tests: gunicorn and `traceqr worker`, each in its own
process group so that a test can SIGKILL it whole, as an operator's `kill -9` or the
kernel's out-of-memory killer would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import PUBLIC_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a TraceQR process on the test's database and instance folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEQR_")}
    env.update(
        TRACEQR_DATABASE_URL=database_url,
        TRACEQR_INSTANCE=str(instance),
        TRACEQR_PUBLIC_URL=PUBLIC_URL,
        TRACEQR_RATE_LIMITS="off",
        **extra,
    )
    return env


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


class Process:
    """A child process in a group of its own, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop/kill
        self.popen = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole group and every descendant that left it (an RQ work horse
        runs in a session of its own): nothing gets to clean up."""
        if self.popen.poll() is None:
            strays = descendants(self.popen.pid)
            os.killpg(self.popen.pid, signal.SIGKILL)
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=30)
        self._log.close()


class Server(Process):
    """gunicorn serving ``traceqr:create_app()`` on a free port."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "--threads",
                "4",
                "--timeout",
                "600",
                "-b",
                f"127.0.0.1:{self.port}",
                "traceqr:create_app()",
            ],
            env,
            log,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"the server stopped at start:\n{self.log()}")
            try:
                status, _ = self.request("GET", "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer in {timeout} s:\n{self.log()}")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        api_key: str | None = None,
        timeout: float = 120,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text). Connection errors are raised as OSError."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if api_key:
            request.add_header("Authorization", f"Bearer {api_key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw, kind = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, kind = error.code, error.read(), error.headers
        text = raw.decode("utf-8", errors="replace")
        if "json" in (kind.get("Content-Type") or ""):
            return status, json.loads(text)
        return status, text
