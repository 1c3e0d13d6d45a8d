"""Command context: the control plane URL, the caller's token and a project's cluster.

The control plane URL comes from ``--control-url`` (or ``CONCORD_CONTROL_URL``),
else from the saved login, else the default. The API token comes from
``--token`` (or ``CONCORD_TOKEN``), else from ``<data-dir>/cli-token.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from concord.cli.client import (
    AccessToken,
    ClientError,
    ClusterClient,
    ControlClient,
    Project,
)
from concord.cli.credentials import SavedLogin, load_login, token_path
from concord.cli.lookup import find_dataset, find_feed, find_project

DEFAULT_CONTROL_URL = "http://127.0.0.1:8080"


class InvalidOptions(ClientError):
    """Options that do not fit together, such as both --feed and --dataset."""


class NotLoggedIn(ClientError):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"No API token: none was given with --token or CONCORD_TOKEN, and "
            f"{token_path(data_dir)} does not exist. Run `concord login`, or "
            "`concord up` which logs the command line in on a new data folder."
        )


@dataclass
class CliContext:
    """The global options of one command line run."""

    data_dir: Path
    control_url_option: str | None = None
    token_option: str | None = None
    _saved: SavedLogin | None = field(default=None, init=False, repr=False)
    _loaded: bool = field(default=False, init=False, repr=False)

    def saved_login(self) -> SavedLogin | None:
        if not self._loaded:
            self._saved = load_login(self.data_dir)
            self._loaded = True
        return self._saved

    @property
    def control_url(self) -> str:
        if self.control_url_option:
            return self.control_url_option.rstrip("/")
        saved = self.saved_login()
        return saved.control_url if saved is not None else DEFAULT_CONTROL_URL

    def token(self) -> str:
        if self.token_option:
            return self.token_option
        saved = self.saved_login()
        if saved is None:
            raise NotLoggedIn(self.data_dir)
        return saved.token

    def control(self, authenticated: bool = True) -> ControlClient:
        token = self.token() if authenticated else None
        return ControlClient(self.control_url, token)

    def project(self, ref: str) -> ProjectAccess:
        control = self.control()
        try:
            project = find_project(control, ref)
        except BaseException:
            control.close()
            raise
        return ProjectAccess.open(control, project, owns_control=True)


@dataclass
class ProjectAccess:
    """A project with a cluster client whose access token renews itself.

    ``close`` closes the cluster client, and the control client too when
    ``owns_control`` is set.
    """

    control: ControlClient
    project: Project
    cluster: ClusterClient
    owns_control: bool = False

    @classmethod
    def open(
        cls, control: ControlClient, project: Project, owns_control: bool = False
    ) -> ProjectAccess:
        token = AccessToken(lambda: control.cluster_token(project.id))
        cluster = ClusterClient(token.info.cluster_url, token)
        return cls(control, project, cluster, owns_control)

    def close(self) -> None:
        self.cluster.close()
        if self.owns_control:
            self.control.close()

    def __enter__(self) -> ProjectAccess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dataset(self, ref: str) -> dict[str, Any]:
        return find_dataset(self.cluster, ref, self.project.name)

    def feed(self, ref: str) -> dict[str, Any]:
        return find_feed(self.cluster, ref, self.project.name)

    def source(
        self, feed: str | None, dataset: str | None
    ) -> tuple[str, dict[str, Any]]:
        """Resolve ``--feed`` or ``--dataset`` (exactly one) to ``(kind, object)``."""
        if (feed is None) == (dataset is None):
            raise InvalidOptions("Give exactly one of --feed and --dataset.")
        if feed is not None:
            return "feed", self.feed(feed)
        assert dataset is not None
        return "dataset", self.dataset(dataset)


def source_body(kind: str, item: dict[str, Any]) -> dict[str, str]:
    """Return the body that names a feed or a dataset for the cluster's review routes."""
    return {f"{kind}_id": str(item["id"])}
