"""A private test network of Linux network namespaces, and PostgreSQL on one host.

``Network.create`` makes one namespace per host and one more for the bridge
that joins them. Each host gets a veth pair: ``eth0`` with the host's address
inside its namespace, the other end a port of the bridge. No interface of the
test network exists in the host machine's own namespace, and the namespaces
have no default route, so their packets can reach each other and nothing
else. The host machine's namespace has a default route, and a packet sent
from there to a test address would leave the machine. So every client of the
test network runs inside a host namespace, through ``ip netns exec``.

``Network.cut`` takes a host's bridge port down, like a pulled cable: its
connections stall instead of being reset, and resume after ``Network.restore``
unless a timeout ends them first.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.postgres import postgres_bin

logger = logging.getLogger(__name__)

IP_TIMEOUT_SECONDS = 10.0
STOP_SECONDS = 10.0
POSTGRES_PORT = 5432


class NetworkUnavailable(RuntimeError):
    """Network namespaces cannot be made here: not root, no ``ip``, or not permitted."""


def ip(*args: str) -> None:
    """Run ``ip`` with ``args``, raising RuntimeError with its output if it fails."""
    completed = subprocess.run(
        ["ip", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=IP_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"ip {' '.join(args)} failed ({completed.returncode}): "
            f"{completed.stderr.strip()}"
        )


@dataclass(frozen=True)
class Host:
    """One machine of the test network: its namespace, address and bridge port."""

    name: str
    namespace: str
    address: str
    bridge_port: str


@dataclass
class Network:
    """Host namespaces joined by a bridge in a namespace of its own."""

    prefix: str
    bridge_namespace: str
    hosts: dict[str, Host] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls, prefix: str, subnet: int, names: list[str]) -> Network:
        """Create the bridge and one host per name at ``10.213.<subnet>.<2 + index>``.

        Raises ``NetworkUnavailable`` when the first namespace cannot be
        created, and removes whatever was made when a later step fails.
        """
        if shutil.which("ip") is None:
            raise NetworkUnavailable(
                "the ip command is missing. Install Debian's iproute2 package."
            )
        network = cls(prefix=prefix, bridge_namespace=f"{prefix}-bridge")
        try:
            ip("netns", "add", network.bridge_namespace)
        except RuntimeError as exc:
            raise NetworkUnavailable(str(exc)) from exc
        network.namespaces.append(network.bridge_namespace)
        try:
            ip("-n", network.bridge_namespace, "link", "set", "lo", "up")
            ip("-n", network.bridge_namespace, "link", "add", "br0", "type", "bridge")
            ip("-n", network.bridge_namespace, "link", "set", "br0", "up")
            for index, name in enumerate(names):
                network._add_host(name, f"10.213.{subnet}.{2 + index}")
        except BaseException:
            network.destroy()
            raise
        logger.info("created test network %s with hosts %s", prefix, names)
        return network

    def _add_host(self, name: str, address: str) -> None:
        namespace = f"{self.prefix}-{name}"
        ip("netns", "add", namespace)
        self.namespaces.append(namespace)
        # Linux limits interface names to 15 characters. These exist only in
        # this run's bridge namespace, so they cannot clash with another run's.
        port = f"v-{name}"[:15]
        bridge = self.bridge_namespace
        ip("-n", namespace, "link", "set", "lo", "up")
        ip("-n", bridge, "link", "add", port, "type", "veth",
           "peer", "name", "eth0", "netns", namespace)
        ip("-n", bridge, "link", "set", port, "master", "br0")
        ip("-n", bridge, "link", "set", port, "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")
        self.hosts[name] = Host(name, namespace, address, port)

    def command(self, host: str, argv: list[str]) -> list[str]:
        """The command line that runs ``argv`` inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.hosts[host].namespace, *argv]

    def run(
        self,
        host: str,
        argv: list[str],
        env: Mapping[str, str],
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside ``host`` and wait, capturing its output as text."""
        return subprocess.run(
            self.command(host, argv),
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def spawn(
        self,
        host: str,
        argv: list[str],
        env: Mapping[str, str],
        log: Path,
        output: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``host``, with stderr to ``log``, stdout to ``output``.

        ``stop_processes`` and ``destroy`` stop it.
        """
        # ``ip netns exec`` replaces itself with the command, so the pid is the
        # command's own and signals reach it directly.
        stdout_path = output or Path(os.devnull)
        with log.open("ab") as stderr, stdout_path.open("ab") as stdout:
            process = subprocess.Popen(
                self.command(host, argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        self.processes.append(process)
        logger.info("started pid %d in %s: %s", process.pid, host, " ".join(argv[:5]))
        return process

    def cut(self, host: str) -> None:
        """Take ``host``'s bridge port down: its packets are dropped both ways."""
        port = self.hosts[host].bridge_port
        ip("-n", self.bridge_namespace, "link", "set", port, "down")
        logger.info("cut the link of %s", host)

    def restore(self, host: str) -> None:
        port = self.hosts[host].bridge_port
        ip("-n", self.bridge_namespace, "link", "set", port, "up")
        logger.info("restored the link of %s", host)

    def stop_processes(self) -> None:
        """Stop every spawned process, the last started first."""
        for process in reversed(self.processes):
            stop_process(process)

    def destroy(self) -> None:
        """Stop every spawned process, then delete the namespaces, whatever fails."""
        self.stop_processes()
        for namespace in reversed(self.namespaces):
            try:
                ip("netns", "del", namespace)
            except RuntimeError as exc:
                logger.error("could not delete namespace %s: %s", namespace, exc)
        self.namespaces.clear()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process, then SIGKILL it if it has not exited in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning(
            "pid %d did not stop in %.0f s, killing it", process.pid, STOP_SECONDS
        )
        process.kill()
        process.wait(STOP_SECONDS)


@dataclass
class NamespacedPostgres:
    """A throwaway PostgreSQL server listening on one host of a test network.

    The server also listens on a unix socket in its folder. The test process
    uses that socket for setup and checks, because a unix socket is a file,
    not network traffic, and works from the host machine's namespace.
    """

    network: Network
    host: Host
    folder: Path

    @classmethod
    def start(cls, network: Network, host: str) -> NamespacedPostgres:
        """Start the server in ``host``'s namespace, with its files in a temp folder."""
        # A folder of its own under the temp root, because the postgres user
        # cannot enter the private folders of the caller.
        folder = Path(tempfile.mkdtemp(prefix="concord-netns-postgres-"))
        server = cls(network, network.hosts[host], folder)
        try:
            server._initialize()
            server._launch()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        logger.info("PostgreSQL started on %s:%d", server.host.address, POSTGRES_PORT)
        return server

    def _initialize(self) -> None:
        """Create the data folder and let the test network's hosts connect."""
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres")
        data = self.folder / "data"
        run_checked(
            as_postgres([str(postgres_bin() / "initdb"), "-D", str(data), "-A", "trust",
                         "-U", "postgres", "--no-sync"])
        )
        subnet = self.host.address.rsplit(".", 1)[0]
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {subnet}.0/24 trust\n")

    def _launch(self) -> None:
        options = (
            f"-h {self.host.address} -p {POSTGRES_PORT} -k {self.folder} -F "
            "-c max_connections=200"
        )
        # pg_ctl starts the server as a daemon, which stays in the namespace
        # it was started in.
        start = as_postgres(
            [str(postgres_bin() / "pg_ctl"), "-D", str(self.folder / "data"),
             "-o", options, "-l", str(self.folder / "server.log"),
             "-w", "-t", "60", "start"]
        )
        run_checked(self.network.command(self.host.name, start))

    def url(self, database: str) -> str:
        """The URL that servers on the test network connect with."""
        address = f"{self.host.address}:{POSTGRES_PORT}"
        return f"postgresql+psycopg://postgres@{address}/{database}"

    def socket_url(self, database: str) -> str:
        """The URL for the test process itself, over the unix socket."""
        return (
            f"postgresql+psycopg://postgres@/{database}"
            f"?host={self.folder}&port={POSTGRES_PORT}"
        )

    def create_database(self, name: str) -> None:
        with psycopg.connect(
            host=str(self.folder), port=POSTGRES_PORT, user="postgres",
            dbname="postgres", autocommit=True,
        ) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        run_checked(
            as_postgres(
                [str(postgres_bin() / "pg_ctl"), "-D", str(self.folder / "data"),
                 "-m", "immediate", "-w", "stop"]
            )
        )
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, characters: int = 3000) -> str:
        try:
            content = (self.folder / "server.log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return content[-characters:]


def as_postgres(argv: list[str]) -> list[str]:
    """Prefix ``argv`` to run as the postgres user when root.

    PostgreSQL refuses to run as root.
    """
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def run_checked(argv: list[str]) -> None:
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:8])} failed ({completed.returncode}): "
            f"{completed.stdout}{completed.stderr}"
        )
