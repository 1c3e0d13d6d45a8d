"""Start the control plane and the cluster as child processes, watch them, stop them.

``start_planes`` is what ``concord up``, ``concord demo`` and the end-to-end
tests share. Each plane runs as ``python -m concord <plane> serve`` in its own
process group, so a Ctrl-C in the terminal reaches only this supervisor, which
then stops the cluster first (it keeps undelivered events in its outbox) and
the control plane second.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

import httpx

from concord.cli.bootstrap import (
    DEFAULT_ADMIN_USERNAME,
    Credentials,
    bootstrap_credentials,
    choose_admin_password,
)
from concord.cli.serving import log_path

logger = logging.getLogger(__name__)

DEFAULT_STARTUP_TIMEOUT = 120.0
DEFAULT_STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 40
LOCK_FILE = ".concord.lock"
# A plane that exits more often than this within the window is not restarted.
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 60.0


def plane_title(name: str) -> str:
    return "control plane" if name == "control" else name


class PlaneError(RuntimeError):
    """A plane failed to start or died; the message ends with its log tail."""


@dataclass
class PlaneProcess:
    """One running plane: its process, URL and the files its output goes to."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    output_path: Path
    log_path: Path
    _output: IO[bytes] | None = field(default=None, repr=False)
    command: list[str] = field(default_factory=list, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        """The plane's name in messages: "control plane" or "cluster"."""
        return plane_title(self.name)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
        """Terminate, wait up to ``timeout`` seconds, then kill; returns the exit code."""
        if self.alive():
            logger.info("stopping the %s (pid %d)", self.title, self.pid)
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "the %s (pid %d) did not stop in %.0f s, killing it",
                    self.title,
                    self.pid,
                    timeout,
                )
                self.process.kill()
                self.process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None
        return self.process.returncode

    def restart(self) -> None:
        """Start the plane again with the same command, after it exited."""
        if self._output is not None:
            self._output.close()
        self._output = self.output_path.open("ab")
        self.process = _popen(self.command, self.env, self._output)
        logger.info("restarted the %s (pid %d) on %s", self.title, self.pid, self.url)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last lines of the plane's stderr output, where crashes land."""
        try:
            text = self.output_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"


@dataclass
class RunningPlanes:
    """Both planes, started by ``start_planes``; stop them with ``stop()``."""

    data_dir: Path
    control: PlaneProcess
    cluster: PlaneProcess
    credentials: Credentials | None = None
    # The data folder's lock, held until ``stop``.
    lock: IO[bytes] | None = None

    @property
    def control_url(self) -> str:
        return self.control.url

    @property
    def cluster_url(self) -> str:
        return self.cluster.url

    @property
    def planes(self) -> tuple[PlaneProcess, PlaneProcess]:
        return (self.cluster, self.control)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        for plane in self.planes:
            plane.stop(timeout)
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def dead(self) -> PlaneProcess | None:
        """Return a plane whose process has exited, if any."""
        for plane in self.planes:
            if not plane.alive():
                return plane
        return None

    def wait(self, poll_seconds: float = 0.5) -> PlaneProcess:
        """Block until one plane exits and return it."""
        while (plane := self.dead()) is None:
            time.sleep(poll_seconds)
        return plane

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_planes(
    data_dir: Path,
    host: str = "127.0.0.1",
    control_port: int = 8080,
    cluster_port: int = 8081,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
) -> RunningPlanes:
    """Start both planes on ``data_dir``, wait until the cluster has joined, log the CLI in.

    A random bootstrap join token goes to both planes. On a data folder without
    a saved login, an admin password is chosen (``CONCORD_ADMIN_PASSWORD`` or a
    generated one), and the admin's API token is saved for later commands.
    ``credentials`` then contains a generated password, to show once. ``env``
    adds or overrides environment variables of the children. Raises
    ``PlaneError`` with the log tail when a plane does not come up, after
    stopping both.
    """
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(data_dir)
    try:
        return _start_locked(
            data_dir, lock, host, control_port, cluster_port, env, startup_timeout
        )
    except BaseException:
        lock.close()
        raise


def lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Take the data folder's lock, so a second ``concord up`` cannot share it.

    The lock is an advisory ``flock`` on ``.concord.lock``; the operating system
    releases it when the process ends, even after a crash.
    """
    handle = (data_dir / LOCK_FILE).open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise PlaneError(
            f"Another Concord process is already running on {data_dir}; stop it "
            "first or choose another --data-dir."
        ) from None
    return handle


def _start_locked(
    data_dir: Path,
    lock: IO[bytes],
    host: str,
    control_port: int,
    cluster_port: int,
    env: Mapping[str, str] | None,
    startup_timeout: float,
) -> RunningPlanes:
    for port in (control_port, cluster_port):
        ensure_port_free(host, port)
    client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    control_url = f"http://{client_host}:{control_port}"
    cluster_url = f"http://{client_host}:{cluster_port}"
    settings_env = {**os.environ, **(env or {})}
    admin_password = choose_admin_password(data_dir, settings_env)
    admin_username = settings_env.get("CONCORD_ADMIN_USERNAME", DEFAULT_ADMIN_USERNAME)

    child_env = {
        **os.environ,
        "CONCORD_DATA_DIR": str(data_dir),
        "CONCORD_JOIN_TOKEN": secrets.token_urlsafe(32),
        "CONCORD_CONTROL_URL": control_url,
        "CONCORD_CONTROL_PUBLIC_URL": control_url,
        "CONCORD_CLUSTER_PUBLIC_URL": cluster_url,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    if admin_password is not None:
        child_env["CONCORD_ADMIN_PASSWORD"] = admin_password.value

    control = _spawn("control", data_dir, host, control_port, control_url, child_env)
    cluster = _spawn("cluster", data_dir, host, cluster_port, cluster_url, child_env)
    planes = RunningPlanes(
        data_dir=data_dir, control=control, cluster=cluster, lock=lock
    )
    try:
        _wait_until_ready(planes, startup_timeout)
        planes.credentials = bootstrap_credentials(
            data_dir, control_url, admin_password, admin_username
        )
    except BaseException:
        planes.stop()
        raise
    return planes


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived while the planes were serving."""


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    def request_stop(signum: int, _frame: FrameType | None) -> None:
        raise StopRequested(signal.Signals(signum).name)

    previous = {
        signum: signal.signal(signum, request_stop)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_until_stopped(
    planes: RunningPlanes,
    max_restarts: int = MAX_RESTARTS,
    restart_window: float = RESTART_WINDOW_SECONDS,
) -> PlaneProcess | None:
    """Block until SIGINT or SIGTERM, restarting a plane that exits; then stop both.

    A plane that exits is started again, so the other keeps serving: the
    cluster keeps its annotators working while the control plane restarts.
    After ``max_restarts`` exits within ``restart_window`` seconds, both stop.
    Returns the plane that kept exiting, or None after a signal. Must run in
    the main thread, where Python delivers signals.
    """
    dead: PlaneProcess | None = None
    exits: list[float] = []
    try:
        with _stop_on_signals():
            while True:
                dead = planes.wait()
                logger.error(
                    "the %s exited with code %s; last output:\n%s",
                    dead.title,
                    dead.process.returncode,
                    dead.log_tail(10),
                )
                now = time.monotonic()
                exits = [at for at in exits if now - at < restart_window] + [now]
                if len(exits) > max_restarts:
                    break
                dead.restart()
                dead = None
    except StopRequested as exc:
        logger.info("%s received, stopping both planes", exc)
    finally:
        planes.stop()
    return dead


def ensure_port_free(host: str, port: int) -> None:
    """Raise ``PlaneError`` when something already listens on ``host:port``.

    Without this check a Concord already running on the port would respond to
    the health checks, and the new planes would seem to start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PlaneError(
                f"Port {port} on {host} is not available ({exc.strerror}). Stop "
                "what uses it or choose other ports with --control-port and "
                "--cluster-port."
            ) from None


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago, for tests and examples."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _spawn(
    name: str,
    data_dir: Path,
    host: str,
    port: int,
    url: str,
    env: Mapping[str, str],
) -> PlaneProcess:
    output_path = data_dir / "logs" / f"{name}.stderr"
    output = output_path.open("ab")
    command = [
        sys.executable,
        "-m",
        "concord",
        name,
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        host,
        "--port",
        str(port),
    ]
    process = _popen(command, env, output)
    logger.info("started the %s (pid %d) on %s", plane_title(name), process.pid, url)
    return PlaneProcess(
        name=name,
        url=url,
        process=process,
        output_path=output_path,
        log_path=log_path(data_dir, name),
        _output=output,
        command=command,
        env=dict(env),
    )


def _popen(
    command: list[str], env: Mapping[str, str], output: IO[bytes]
) -> subprocess.Popen[bytes]:
    # stdout stays the terminal's: the control plane writes a generated admin
    # password there once. Logs go to stderr, captured in a file.
    return subprocess.Popen(
        command,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stderr=output,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _die_with_parent() -> None:
    # Ask Linux to send SIGTERM to the child when the supervisor dies, even by
    # SIGKILL, so no plane outlives a killed `concord up`.
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until_ready(planes: RunningPlanes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        for plane, ready in (
            (planes.control, _control_ready),
            (planes.cluster, _cluster_ready),
        ):
            while not ready(client, plane.url):
                if (dead := planes.dead()) is not None:
                    raise PlaneError(
                        f"The {dead.title} exited with code "
                        f"{dead.process.returncode} while starting. Its last output:\n"
                        f"{dead.log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise PlaneError(
                        f"The {plane.title} was not ready at {plane.url} after "
                        f"{timeout:.0f} s. Its last output:\n{plane.log_tail()}"
                    )
                time.sleep(0.2)
            logger.info("the %s is ready at %s", plane.title, plane.url)


def _control_ready(client: httpx.Client, url: str) -> bool:
    try:
        response = client.get(f"{url}/api/health")
    except httpx.TransportError:
        return False
    return response.status_code == 200


def _cluster_ready(client: httpx.Client, url: str) -> bool:
    try:
        response = client.get(f"{url}/api/health")
    except httpx.TransportError:
        return False
    if response.status_code != 200:
        return False
    try:
        return response.json().get("joined") is True
    except ValueError:
        return False
