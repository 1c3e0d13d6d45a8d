"""HTTP clients for the control plane and the cluster.

Both clients are thin: one method per route of docs/http-api.md. A response
outside 2xx raises ``ApiError`` built from the shared error shape
``{"error": {"code", "message", "details"}}``, so the command line can show the
server's own message (an import's line number, a missing project).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Self

import httpx

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Imports, exports, agreement and gold can take minutes on large datasets.
LONG_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
# How long to wait for a new feed to reach the control plane from the cluster.
FEED_ARRIVAL_SECONDS = 30.0


class ClientError(Exception):
    """A request that did not succeed; ``str(error)`` is a message for people."""


class ConnectionFailed(ClientError):
    def __init__(self, what: str, url: str, reason: str) -> None:
        super().__init__(
            f"Could not reach the {what} at {url} ({reason}). Check that it is "
            "running (concord up starts both planes) and that the URL is right."
        )
        self.url = url


class ApiError(ClientError):
    """An error response in the shared JSON shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_from_response(response: httpx.Response) -> ApiError:
    """Build an ``ApiError`` from a non-2xx response, whatever its body is."""
    try:
        error = response.json()["error"]
        return ApiError(
            status=response.status_code,
            code=str(error.get("code", "error")),
            message=str(error.get("message", "")) or f"HTTP {response.status_code}",
            details=dict(error.get("details") or {}),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        try:
            snippet = response.text[:200]
        except httpx.ResponseNotRead:
            snippet = ""
        return ApiError(
            status=response.status_code,
            code="http_error",
            message=(
                f"{response.request.method} {response.request.url.path} failed "
                f"with HTTP {response.status_code}. {snippet}".strip()
            ),
        )


@dataclass(frozen=True)
class User:
    id: str
    username: str
    is_admin: bool
    active: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        return cls(
            id=data["id"],
            username=data["username"],
            is_admin=bool(data.get("is_admin", False)),
            active=bool(data.get("active", True)),
        )


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    cluster_id: str | None
    cluster_url: str | None
    role: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Project:
        return cls(
            id=data["id"],
            name=data["name"],
            cluster_id=data.get("cluster_id"),
            cluster_url=data.get("cluster_url"),
            role=data.get("role"),
        )


@dataclass(frozen=True)
class ClusterToken:
    """A short-lived access token for one project on its cluster."""

    token: str
    cluster_url: str
    cluster_id: str
    role: str
    expires_at: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterToken:
        return cls(
            token=data["token"],
            cluster_url=data["cluster_url"].rstrip("/"),
            cluster_id=data["cluster_id"],
            role=data["role"],
            expires_at=data["expires_at"],
        )

    def __repr__(self) -> str:
        return f"ClusterToken(cluster_id={self.cluster_id!r}, role={self.role!r})"


class AccessToken:
    """A cluster access token that renews itself shortly before it expires.

    ``fetch`` requests a new token from the control plane. Tokens live 15 minutes by
    default, so long jobs such as the demo's scripted annotators need this.
    """

    RENEW_MARGIN = timedelta(seconds=60)

    def __init__(self, fetch: Callable[[], ClusterToken]) -> None:
        self._fetch = fetch
        self._current: ClusterToken | None = None

    @property
    def info(self) -> ClusterToken:
        if self._current is None or self._expiring(self._current):
            self.renew()
        assert self._current is not None
        return self._current

    def value(self) -> str:
        return self.info.token

    def renew(self) -> str:
        self._current = self._fetch()
        return self._current.token

    def _expiring(self, token: ClusterToken) -> bool:
        try:
            expires = datetime.fromisoformat(token.expires_at)
        except ValueError:
            return False
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return expires - datetime.now(timezone.utc) < self.RENEW_MARGIN


class _BaseClient:
    what = "server"

    def __init__(self, base_url: str, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _auth_headers(self) -> dict[str, str]:
        return {}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._auth_headers(), **kwargs.pop("headers", {})}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectionFailed(self.what, self.base_url, reason) from exc

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and return its decoded JSON body (None when empty)."""
        response = self._send(method, path, **kwargs)
        if not response.is_success:
            raise error_from_response(response)
        if not response.content:
            return None
        return response.json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """Open a streamed response; raises ``ApiError`` before any byte is read."""
        headers = {**self._auth_headers(), **kwargs.pop("headers", {})}
        try:
            with self._http.stream(method, path, headers=headers, **kwargs) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectionFailed(self.what, self.base_url, reason) from exc


class ControlClient(_BaseClient):
    """The control plane's API: people, projects, feeds' settings and progress."""

    what = "control plane"

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(base_url, timeout)
        self.token = token

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/api/health")

    def login(self, username: str, password: str) -> tuple[str, User]:
        """Log in and return a new API token with its user; the client keeps it."""
        body = self.request(
            "POST", "/api/auth/login", json={"username": username, "password": password}
        )
        self.token = body["token"]
        return body["token"], User.from_json(body["user"])

    def logout(self) -> None:
        self.request("POST", "/api/auth/logout")

    def me(self) -> User:
        return User.from_json(self.request("GET", "/api/me"))

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        body = {"username": username, "password": password, "is_admin": is_admin}
        return User.from_json(self.request("POST", "/api/users", json=body))

    def list_users(self) -> list[User]:
        return [User.from_json(item) for item in self.request("GET", "/api/users")]

    def create_project(self, name: str) -> Project:
        body = self.request("POST", "/api/projects", json={"name": name})
        return Project.from_json(body)

    def list_projects(self) -> list[Project]:
        return [
            Project.from_json(item) for item in self.request("GET", "/api/projects")
        ]

    def get_project(self, project_id: str) -> Project:
        return Project.from_json(self.request("GET", f"/api/projects/{project_id}"))

    def set_member(self, project_id: str, username: str, role: str) -> dict[str, Any]:
        return self.request(
            "PUT",
            f"/api/projects/{project_id}/members",
            json={"username": username, "role": role},
        )

    def set_feed_members(self, feed_id: str, usernames: list[str]) -> dict[str, Any]:
        """Let ``usernames`` annotate the feed, once the control plane knows it.

        A new feed reaches the control plane through the cluster's outbox, a
        moment after the cluster created it, so a 404 is retried for a while.
        """
        deadline = time.monotonic() + FEED_ARRIVAL_SECONDS
        while True:
            try:
                return self.request(
                    "PUT", f"/api/feeds/{feed_id}/members", json={"usernames": usernames}
                )
            except ApiError as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def list_members(self, project_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/projects/{project_id}/members")

    def cluster_token(self, project_id: str) -> ClusterToken:
        body = self.request("POST", f"/api/projects/{project_id}/cluster-token")
        return ClusterToken.from_json(body)

    def list_datasets(self, project_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/projects/{project_id}/datasets")

    def list_feeds(self, project_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/projects/{project_id}/feeds")

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/feeds/{feed_id}")

    def feed_progress(self, feed_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/feeds/{feed_id}/progress")

    def agreement(self, source_kind: str, source_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/agreement/{source_kind}/{source_id}")

    def gold(self, source_kind: str, source_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/gold/{source_kind}/{source_id}")


class ClusterClient(_BaseClient):
    """The cluster's API for one project, with an access token from the control plane.

    A request answered 401 (the token expired early or was revoked) is sent
    once more with a renewed token, unless its body was a stream that cannot
    be sent twice.
    """

    what = "cluster"

    def __init__(
        self,
        base_url: str,
        token: AccessToken | str,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(base_url, timeout)
        self.token = token

    def _auth_headers(self) -> dict[str, str]:
        token = self.token if isinstance(self.token, str) else self.token.value()
        return {"Authorization": f"Bearer {token}"}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        content = kwargs.get("content")
        replayable = content is None or isinstance(content, bytes)
        response = super()._send(method, path, **dict(kwargs))
        if (
            response.status_code == 401
            and replayable
            and isinstance(self.token, AccessToken)
        ):
            logger.info("access token for %s rejected, renewing it", self.base_url)
            self.token.renew()
            response = super()._send(method, path, **kwargs)
        return response

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/api/health")

    def create_dataset(self, name: str) -> dict[str, Any]:
        return self.request("POST", "/api/datasets", json={"name": name})

    def list_datasets(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/datasets")

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/datasets/{dataset_id}")

    def import_jsonl(self, dataset_id: str, chunks: Iterable[bytes]) -> dict[str, Any]:
        """Stream JSONL bytes to a dataset and return the ``ImportResult``."""
        return self.request(
            "POST",
            f"/api/datasets/{dataset_id}/import",
            content=chunks,
            headers={"Content-Type": "application/x-ndjson"},
            timeout=LONG_TIMEOUT,
        )

    def create_feed(self, feed: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/feeds", json=feed)

    def list_feeds(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/feeds")

    def get_feed(self, feed_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/feeds/{feed_id}")

    def next_tasks(self, feed_id: str, count: int = 10) -> dict[str, Any]:
        return self.request("POST", f"/api/feeds/{feed_id}/next", json={"count": count})

    def submit_answers(
        self, feed_id: str, answers: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.request(
            "POST", f"/api/feeds/{feed_id}/answers", json={"answers": answers}
        )

    def undo(self, feed_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/feeds/{feed_id}/undo")

    def progress(self, feed_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/feeds/{feed_id}/progress")

    def agreement(self, source: dict[str, str]) -> dict[str, Any]:
        """Compute agreement for ``{"feed_id": ...}`` or ``{"dataset_id": ...}``."""
        return self.request("POST", "/api/agreement", json=source, timeout=LONG_TIMEOUT)

    def conflicts(
        self, source: dict[str, str], min_agreement: float = 0.5
    ) -> dict[str, Any]:
        params: dict[str, Any] = {**source, "min_agreement": min_agreement}
        return self.request(
            "GET", "/api/conflicts", params=params, timeout=LONG_TIMEOUT
        )

    def build_gold(
        self, source: dict[str, str], name: str, min_agreement: float = 0.5
    ) -> dict[str, Any]:
        body = {**source, "name": name, "min_agreement": min_agreement}
        return self.request("POST", "/api/gold", json=body, timeout=LONG_TIMEOUT)

    @contextmanager
    def export(self, kind: str, object_id: str) -> Iterator[httpx.Response]:
        """Stream the JSONL export of a ``dataset`` or a ``feed``."""
        path = f"/api/{kind}s/{object_id}/export"
        with self.stream("GET", path, timeout=LONG_TIMEOUT) as response:
            yield response
