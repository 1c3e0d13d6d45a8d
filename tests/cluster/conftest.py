"""Fixtures for cluster tests: a joined cluster with a signing key the test holds.

``cluster`` is a TestClient over the real app on a SQLite file in a tmp dir.
``cluster_server`` runs the same app under uvicorn on 127.0.0.1 (for browser
tests). Both are joined to a control plane that exists only as a key pair
here: ``issue_token(...)`` signs access tokens exactly as the control plane
does, so the cluster's verification runs for real. Outbox rows stay pending
because no control plane listens at ``control_url``.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient

from concord.cluster.app import create_app
from concord.cluster.database import Database
from concord.cluster.settings import ClusterSettings
from concord.cluster.state import Membership, save_membership
from tests.conftest import DatabaseFactory

ISSUER = "concord-control"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Signer:
    """Signs access tokens for one cluster, as the control plane would."""

    key: Ed25519PrivateKey
    cluster_id: str

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode("ascii")
        )

    def token(
        self,
        project: str = "project-a",
        role: str = "manager",
        user: str = "user-1",
        name: str | None = None,
        lifetime: int = 900,
        audience: str | None = None,
        key: Ed25519PrivateKey | None = None,
        feeds: list[str] | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience or self.cluster_id,
            "sub": user,
            "name": name or user,
            "project": project,
            "role": role,
            "feeds": ["*"] if feeds is None else feeds,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key or self.key, algorithm="EdDSA")

    def headers(self, **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**claims)}"}  # type: ignore[arg-type]


@pytest.fixture
def signer() -> Signer:
    return Signer(key=Ed25519PrivateKey.generate(), cluster_id=uuid.uuid4().hex)


def make_joined_app(
    data_dir: Path,
    signer: Signer,
    port: int = 1,
    media_dir: Path | None = None,
    database_url: str | None = None,
) -> FastAPI:
    """A cluster app whose database already contains a membership for ``signer``.

    ``database_url`` None means SQLite in ``data_dir``.
    """
    settings = ClusterSettings(
        data_dir=data_dir,
        database_url=database_url,
        port=port,
        media_dir=media_dir,
        control_url=f"http://127.0.0.1:{free_port()}",
        outbox_max_backoff_seconds=60.0,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    with database.transaction() as session:
        save_membership(
            session,
            Membership(
                cluster_id=signer.cluster_id,
                cluster_secret="test-secret",
                public_key=signer.public_pem,
                issuer=ISSUER,
            ),
        )
    database.dispose()
    return create_app(settings)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return folder


@pytest.fixture
def cluster_app(
    tmp_path: Path, signer: Signer, media_dir: Path, test_databases: DatabaseFactory
) -> FastAPI:
    return make_joined_app(
        tmp_path / "cluster",
        signer,
        media_dir=media_dir,
        database_url=test_databases.cluster(),
    )


@pytest.fixture
def cluster(cluster_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(cluster_app) as client:
        yield client


@dataclass
class RunningCluster:
    url: str
    app: FastAPI
    signer: Signer
    media_dir: Path


@pytest.fixture
def cluster_server(
    tmp_path: Path, signer: Signer, test_databases: DatabaseFactory
) -> Iterator[RunningCluster]:
    """The cluster under a real uvicorn server on 127.0.0.1, in a thread."""
    port = free_port()
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    app = make_joined_app(
        tmp_path / "cluster",
        signer,
        port=port,
        media_dir=media_dir,
        database_url=test_databases.cluster(),
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError("cluster server did not start within 20 s")
    yield RunningCluster(url=url, app=app, signer=signer, media_dir=media_dir)
    server.should_exit = True
    thread.join(10)


ImportFn = Callable[..., dict]


@pytest.fixture
def import_jsonl(cluster: TestClient, signer: Signer) -> ImportFn:
    """Create a dataset (if needed) and import JSONL bytes into it."""

    def run(name: str, body: bytes, project: str = "project-a") -> dict:
        headers = signer.headers(project=project, role="manager")
        found = [
            d for d in cluster.get("/api/datasets", headers=headers).json() if d["name"] == name
        ]
        if found:
            dataset_id = found[0]["id"]
        else:
            created = cluster.post("/api/datasets", json={"name": name}, headers=headers)
            assert created.status_code == 201, created.text
            dataset_id = created.json()["id"]
        response = cluster.post(
            f"/api/datasets/{dataset_id}/import", content=body, headers=headers
        )
        return {"status": response.status_code, "body": response.json(), "id": dataset_id}

    return run
