"""Run one plane under uvicorn, configured from options and the environment.

The apps are built by their factories (``create_app()`` reads its settings
from the environment), so options given on the command line are written to
the environment variables the settings read before uvicorn starts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from concord.cli.logs import configure_logging

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlaneSpec:
    """How to serve one plane: its factory and the environment variables of its options."""

    name: str
    title: str
    factory: str
    host_env: str
    port_env: str


CONTROL = PlaneSpec(
    name="control",
    title="control plane",
    factory="concord.control.app:create_app",
    host_env="CONCORD_CONTROL_HOST",
    port_env="CONCORD_CONTROL_PORT",
)
CLUSTER = PlaneSpec(
    name="cluster",
    title="cluster",
    factory="concord.cluster.app:create_app",
    host_env="CONCORD_CLUSTER_HOST",
    port_env="CONCORD_CLUSTER_PORT",
)

DEFAULT_DATA_DIR = Path("concord-data")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORTS = {"control": 8080, "cluster": 8081}


def log_path(data_dir: Path, plane: str) -> Path:
    return data_dir / "logs" / f"{plane}.log"


def serve(
    spec: PlaneSpec,
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Serve a plane until uvicorn is stopped by SIGINT or SIGTERM."""
    if data_dir is not None:
        os.environ["CONCORD_DATA_DIR"] = str(data_dir)
    if host is not None:
        os.environ[spec.host_env] = host
    if port is not None:
        os.environ[spec.port_env] = str(port)
    resolved_dir = Path(os.environ.get("CONCORD_DATA_DIR", DEFAULT_DATA_DIR))
    resolved_host = os.environ.get(spec.host_env, DEFAULT_HOST)
    resolved_port = int(os.environ.get(spec.port_env, DEFAULT_PORTS[spec.name]))

    resolved_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(log_path(resolved_dir, spec.name))
    logger.info(
        "starting the %s on %s:%d with data in %s",
        spec.title,
        resolved_host,
        resolved_port,
        resolved_dir.resolve(),
    )
    uvicorn.run(
        spec.factory,
        factory=True,
        host=resolved_host,
        port=resolved_port,
        log_config=None,
        access_log=True,
    )
    logger.info("the %s stopped", spec.title)
