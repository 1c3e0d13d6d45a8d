from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from concord.common.http import install_error_handlers
from concord.control.limits import install_body_limit

from .support import JoinedCluster


def _echo_app(limit: int) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_body_limit(app, max_bytes=limit)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/json")
    def echo_json(body: dict[str, str]) -> dict[str, int]:
        return {"keys": len(body)}

    return app


def test_declared_length_over_limit(client: TestClient, cluster: JoinedCluster) -> None:
    response = client.post(
        "/api/events",
        headers={**cluster.headers, "Content-Type": "application/json"},
        content=b"x" * (32 * 1024 * 1024 + 1),
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def _chunks() -> Iterator[bytes]:
    yield b'{"key": "'
    for _ in range(10):
        yield b"y" * 100
    yield b'"}'


def test_streamed_body_over_limit() -> None:
    with TestClient(_echo_app(limit=500)) as client:
        small = client.post("/echo", content=b"z" * 500)
        large = client.post("/echo", content=_chunks())

    assert small.json() == {"bytes": 500}
    assert large.status_code == 413
    assert "500 bytes" in large.json()["error"]["message"]


def test_streamed_json_over_limit() -> None:
    with TestClient(_echo_app(limit=500)) as client:
        small = client.post("/json", json={"key": "value"})
        large = client.post(
            "/json", content=_chunks(), headers={"Content-Type": "application/json"}
        )

    assert small.json() == {"keys": 1}
    assert large.status_code == 413
    assert large.json()["error"]["code"] == "payload_too_large"
