"""Cluster replicas as child processes over one database, behind nginx when several.

``start_fleet`` prepares the database (schema and a membership for a test
signing key, so no control plane is needed), starts ``concord cluster serve``
once per replica on free ports on 127.0.0.1 and, for more than one replica,
Debian's nginx as a round-robin load balancer in front of them, with its
configuration and files in a temp folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from concord.cluster.database import Database
from concord.cluster.state import Membership, save_membership
from tests.cluster.conftest import ISSUER, Signer
from tests.postgres import free_port

logger = logging.getLogger(__name__)

STARTUP_SECONDS = 60.0

NGINX_CONFIG = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    # Bodies and responses stay in memory: the workers run as an unprivileged
    # user that cannot write to this temp folder.
    client_max_body_size 0;
    client_body_buffer_size 64m;
    proxy_buffering off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream cluster {{
{servers}
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://cluster;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@dataclass
class Fleet:
    """Running replicas; ``url`` is nginx's when there are several."""

    url: str
    replica_urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    database_url: str
    nginx: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        everything = [*self.processes, *([self.nginx] if self.nginx else [])]
        for process in everything:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in everything:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def prepare_database(database_url: str, signer: Signer) -> None:
    """Migrate the cluster schema and save a membership for ``signer``."""
    database = Database(database_url)
    try:
        database.migrate()
        with database.transaction() as session:
            save_membership(
                session,
                Membership(
                    cluster_id=signer.cluster_id,
                    cluster_secret="fleet-secret",
                    public_key=signer.public_pem,
                    issuer=ISSUER,
                ),
            )
    finally:
        database.dispose()


def start_fleet(
    folder: Path, database_url: str | None, replicas: int, signer: Signer
) -> Fleet:
    """Start ``replicas`` cluster processes on ``database_url`` (None: SQLite in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        database_url = f"sqlite:///{(folder / 'cluster.db').resolve()}"
    prepare_database(database_url, signer)
    env = {
        **os.environ,
        "CONCORD_CLUSTER_DATABASE_URL": database_url,
        # No control plane listens here: events stay in the outbox.
        "CONCORD_CONTROL_URL": f"http://127.0.0.1:{free_port()}",
        "PYTHONUNBUFFERED": "1",
    }
    fleet = Fleet(url="", replica_urls=[], processes=[], database_url=database_url)
    try:
        for index in range(replicas):
            port = free_port()
            data_dir = folder / f"replica{index}"
            data_dir.mkdir(exist_ok=True)
            log = data_dir / "stderr.log"
            fleet.logs.append(log)
            fleet.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "concord", "cluster", "serve",
                     "--data-dir", str(data_dir), "--host", "127.0.0.1",
                     "--port", str(port)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log.open("ab"),
                    start_new_session=True,
                )
            )
            fleet.replica_urls.append(f"http://127.0.0.1:{port}")
        for url in fleet.replica_urls:
            wait_healthy(url, fleet)
        fleet.url = fleet.replica_urls[0]
        if replicas > 1:
            fleet.nginx, fleet.url = start_nginx(folder / "nginx", fleet.replica_urls)
            wait_healthy(fleet.url, fleet)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def start_nginx(folder: Path, upstreams: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError(
            "nginx not found; install Debian's nginx package (apt-get install -y nginx)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(
        f"        server {url.removeprefix('http://')};" for url in upstreams
    )
    config = folder / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(folder=folder, servers=servers, port=port))
    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", str(folder), "-e", str(folder / "error.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "stderr.log").open("ab"),
        start_new_session=True,
    )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(url: str, fleet: Fleet) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        dead = [log for process, log in zip(fleet.processes, fleet.logs) if process.poll() is not None]
        if dead:
            raise RuntimeError(f"a replica exited; its log:\n{dead[0].read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not healthy within {STARTUP_SECONDS} s")
