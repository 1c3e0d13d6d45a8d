"""The cache of verified access tokens must accept exactly what a fresh check accepts."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.cluster.conftest import Signer, make_joined_app
from tests.conftest import DatabaseFactory


def test_cached_token_keeps_its_audience(
    tmp_path: Path, cluster: TestClient, signer: Signer, test_databases: DatabaseFactory
) -> None:
    """A token for one cluster, once cached, is still rejected by another.

    Both clusters joined the same control plane, so they share its signing
    key. Only the audience (the cluster id) distinguishes their tokens.
    """
    other_signer = Signer(key=signer.key, cluster_id="other-cluster")
    other_app = make_joined_app(
        tmp_path / "other", other_signer, database_url=test_databases.cluster()
    )
    headers = signer.headers(role="annotator")
    with TestClient(other_app) as other:
        # Before the token is cached, the other cluster rejects it.
        fresh = signer.headers(role="annotator")
        assert other.get("/api/feeds", headers=fresh).status_code == 401
        assert cluster.get("/api/feeds", headers=headers).status_code == 200
        assert other.get("/api/feeds", headers=headers).status_code == 401


def test_cached_token_expires(cluster: TestClient, signer: Signer) -> None:
    headers = signer.headers(role="annotator", lifetime=2)
    assert cluster.get("/api/feeds", headers=headers).status_code == 200
    time.sleep(2.1)
    response = cluster.get("/api/feeds", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]

