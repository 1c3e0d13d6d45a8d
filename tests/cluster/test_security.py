"""Access tokens: forged, expired, wrong audience, wrong key, cookies and CSRF."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def test_no_token_is_401(cluster) -> None:
    response = cluster.get("/api/datasets")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "make",
    [
        lambda s: s.token(lifetime=-10),
        lambda s: s.token(audience="another-cluster"),
        lambda s: s.token(key=Ed25519PrivateKey.generate()),
        lambda s: s.token()[:-4] + "AAAA",
        lambda s: jwt.encode({"sub": "x", "project": "project-a", "role": "manager"}, "k", algorithm="HS256"),
    ],
    ids=["expired", "wrong-audience", "wrong-key", "forged-signature", "hs256"],
)
def test_bad_tokens_rejected(cluster, signer, make) -> None:
    response = cluster.get("/api/datasets", headers={"Authorization": f"Bearer {make(signer)}"})
    assert response.status_code == 401


def test_unknown_role_rejected(cluster, signer) -> None:
    response = cluster.get("/api/datasets", headers=signer.headers(role="owner"))
    assert response.status_code == 401


def test_cookie_needs_csrf_header(cluster, signer) -> None:
    token = signer.token(role="manager")
    entered = cluster.post(
        "/auth/enter", data={"token": token, "next": "/api/datasets"}, follow_redirects=False
    )
    assert entered.status_code == 303
    assert entered.headers["location"] == "/api/datasets"
    cookie = entered.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert cluster.get("/api/datasets").status_code == 200
    without = cluster.post("/api/datasets", json={"name": "x"})
    assert without.status_code == 403
    with_header = cluster.post(
        "/api/datasets", json={"name": "x"}, headers={"X-Concord-Request": "1"}
    )
    assert with_header.status_code == 201


def test_enter_rejects_offsite_next(cluster, signer) -> None:
    entered = cluster.post(
        "/auth/enter",
        data={"token": signer.token(), "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert entered.headers["location"] == "/"


def test_enter_rejects_bad_token(cluster) -> None:
    response = cluster.post("/auth/enter", data={"token": "nope", "next": "/"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_annotate_page_without_session_redirects(cluster) -> None:
    response = cluster.get("/annotate/abc", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/feeds/abc/open")


def test_oversized_body_rejected(cluster, signer) -> None:
    body = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    response = cluster.post(
        "/api/datasets",
        content=body,
        headers={**signer.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_annotate_page_security_headers(cluster, signer) -> None:
    headers = signer.headers()
    dataset = cluster.post("/api/datasets", json={"name": "page"}, headers=headers).json()
    cluster.post(f"/api/datasets/{dataset['id']}/import", content=b'{"text": "a"}\n', headers=headers)
    feed = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "page", "interface": "binary", "label": "X"},
        headers=headers,
    ).json()
    cluster.post("/auth/enter", data={"token": signer.token(), "next": "/"})
    page = cluster.get(f"/annotate/{feed['id']}")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
