"""``concord up`` as a real process: startup, credentials, signals and a dying plane."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from concord.cli.credentials import load_login, token_path
from concord.cli.supervisor import free_port

STARTUP_SECONDS = 90.0


@dataclass
class UpProcess:
    process: subprocess.Popen[str]
    data_dir: Path
    control_port: int
    cluster_port: int

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        stdout, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stdout, stderr


def start_up(data_dir: Path, *extra: str) -> UpProcess:
    control_port, cluster_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CONCORD_")
    }
    env["CONCORD_PASSWORD_HASH_FAST"] = "true"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "concord",
            "up",
            "--data-dir",
            str(data_dir),
            "--control-port",
            str(control_port),
            "--cluster-port",
            str(cluster_port),
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return UpProcess(process, data_dir, control_port, cluster_port)


def wait_until_serving(up: UpProcess) -> None:
    """Wait until the cluster has joined and ``up`` saved the login."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert up.process.poll() is None, up.finish()
        try:
            health = httpx.get(f"http://127.0.0.1:{up.cluster_port}/api/health").json()
        except httpx.TransportError:
            health = {}
        if health.get("joined") and token_path(up.data_dir).exists():
            # The saved login is the last step before the URLs are printed.
            time.sleep(0.5)
            return
        time.sleep(0.2)
    up.process.kill()
    pytest.fail(f"concord up did not start: {up.finish()}")


def port_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # kill(0) still succeeds on a zombie, whose state letter in /proc is Z.
    stat_line = Path(f"/proc/{pid}/stat").read_text()
    return stat_line.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def up_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "up-data"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_up_stops_cleanly_on_signal(up_dir: Path, signum: int) -> None:
    up = start_up(up_dir)
    wait_until_serving(up)
    children = up.children()

    up.process.send_signal(signum)
    code, stdout, stderr = up.finish()

    assert code == 0, stderr
    assert len(children) == 2
    assert all(pid_gone(pid) for pid in children)
    assert port_closed(up.control_port)
    assert port_closed(up.cluster_port)
    assert "Stopped both planes." in stdout


def test_up_prints_password_once(up_dir: Path) -> None:
    first = start_up(up_dir)
    wait_until_serving(first)
    first.process.send_signal(signal.SIGINT)
    _, first_out, _ = first.finish()
    second = start_up(up_dir)
    wait_until_serving(second)
    second.process.send_signal(signal.SIGINT)
    code, second_out, _ = second.finish()

    saved = load_login(up_dir)
    assert saved is not None
    password = first_out.split("Admin login:")[1].split()[2]
    assert len(password) >= 16
    assert f"http://127.0.0.1:{first.control_port}" in first_out
    assert stat.S_IMODE(token_path(up_dir).stat().st_mode) == 0o600
    assert code == 0
    assert "Admin login" not in second_out
    assert "logged in as admin" in second_out
    assert load_login(up_dir).control_url == f"http://127.0.0.1:{second.control_port}"
    logs = b"".join(path.read_bytes() for path in (up_dir / "logs").iterdir())
    assert password.encode() not in logs
    assert saved.token.encode() not in logs


def _cluster_child(up: UpProcess, not_pid: int | None = None) -> int | None:
    for pid in up.children():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"cluster" in command and pid != not_pid:
            return pid
    return None


def test_up_restarts_then_gives_up_on_a_dying_plane(up_dir: Path) -> None:
    up = start_up(up_dir)
    wait_until_serving(up)
    control_pids = set(up.children())
    killed: list[int] = []
    deadline = time.monotonic() + 50
    # Each exit is restarted until a fourth one within a minute.
    while up.process.poll() is None and time.monotonic() < deadline:
        pid = _cluster_child(up, killed[-1] if killed else None)
        if pid is None or pid in killed:
            time.sleep(0.1)
            continue
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        time.sleep(0.5)
    code, _, stderr = up.finish()
    children = list(control_pids) + killed

    assert len(killed) == 4
    assert stderr.count("the cluster exited with code -9") == 4
    assert code == 1
    assert "The cluster exited with code -9" in stderr
    assert "Last output of the cluster:" in stderr
    assert "Uvicorn running" in stderr
    assert all(pid_gone(pid) for pid in children)
    assert port_closed(up.control_port)


def test_up_refuses_busy_port(up_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        up = start_up(up_dir, "--control-port", str(port))
        # The later --control-port wins over the one start_up passed.
        code, _, stderr = up.finish()

    assert code == 1
    assert f"Port {port} on 127.0.0.1 is not available" in stderr
    assert "--control-port" in stderr
