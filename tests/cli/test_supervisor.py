"""start_planes: port checks, startup failures with log tails, and stopping."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from concord.cli.supervisor import (
    PlaneError,
    ensure_port_free,
    free_port,
    lock_data_dir,
    serve_until_stopped,
    start_planes,
)

FAST = {"CONCORD_PASSWORD_HASH_FAST": "true"}


def test_busy_port_is_rejected() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(
            PlaneError, match=f"Port {port} on 127.0.0.1 is not available"
        ):
            ensure_port_free("127.0.0.1", port)


def test_free_port_passes() -> None:
    ensure_port_free("127.0.0.1", free_port())


def test_crashing_cluster_reports_its_output(tmp_path: Path) -> None:
    # An unwritable database location makes the cluster's migrations fail.
    env = {
        **FAST,
        "CONCORD_CLUSTER_DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/x.db",
    }
    control_port = free_port()

    with pytest.raises(PlaneError) as caught:
        start_planes(
            tmp_path / "data",
            control_port=control_port,
            cluster_port=free_port(),
            env=env,
        )

    message = str(caught.value)
    assert message.startswith("The cluster exited with code")
    assert "Its last output:" in message
    assert "unable to open database file" in message
    ensure_port_free("127.0.0.1", control_port)


def test_cluster_that_never_joins_times_out(tmp_path: Path) -> None:
    # The cluster keeps retrying a control plane address where no server listens.
    # The timeout leaves a loaded machine time to start the control plane.
    env = {**FAST, "CONCORD_CONTROL_URL": f"http://127.0.0.1:{free_port()}"}
    control_port, cluster_port = free_port(), free_port()

    with pytest.raises(PlaneError, match="The cluster was not ready at .* after 30 s"):
        start_planes(
            tmp_path,
            control_port=control_port,
            cluster_port=cluster_port,
            env=env,
            startup_timeout=30,
        )

    ensure_port_free("127.0.0.1", control_port)
    ensure_port_free("127.0.0.1", cluster_port)


def test_stop_ends_both_processes(tmp_path: Path) -> None:
    planes = start_planes(
        tmp_path, control_port=free_port(), cluster_port=free_port(), env=FAST
    )
    assert planes.dead() is None

    planes.stop()

    assert planes.control.alive() is False
    assert planes.cluster.alive() is False
    assert planes.dead() is planes.cluster
    assert (tmp_path / "logs" / "control.log").stat().st_size > 0
    assert "cluster stopped" in (tmp_path / "logs" / "cluster.log").read_text()


def test_data_dir_lock_is_exclusive(tmp_path: Path) -> None:
    first = lock_data_dir(tmp_path)
    try:
        with pytest.raises(PlaneError, match="already running"):
            lock_data_dir(tmp_path)
    finally:
        first.close()
    lock_data_dir(tmp_path).close()


def test_dead_control_plane_restarts_alone(tmp_path: Path) -> None:
    planes = start_planes(
        tmp_path / "data",
        control_port=free_port(),
        cluster_port=free_port(),
        env={"CONCORD_PASSWORD_HASH_FAST": "true"},
    )
    cluster_pid = planes.cluster.pid
    killed_pid = planes.control.pid
    outcome: dict[str, object] = {}

    def kill_then_stop() -> None:
        os.kill(killed_pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if planes.control.pid != killed_pid and planes.control.alive():
                try:
                    health = httpx.get(f"{planes.control_url}/api/health", timeout=1)
                    if health.status_code == 200:
                        outcome["restarted"] = True
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        outcome["cluster_alive"] = planes.cluster.alive() and planes.cluster.pid == cluster_pid
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=kill_then_stop)
    watcher.start()
    try:
        dead = serve_until_stopped(planes)
    finally:
        watcher.join(70)
        planes.stop()
    assert dead is None
    assert outcome.get("restarted") is True
    assert outcome.get("cluster_alive") is True
