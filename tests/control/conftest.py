"""Fixtures for the control plane: a real app on a SQLite file in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.control.app import create_app
from concord.control.settings import ControlSettings
from tests.conftest import DatabaseFactory

from .support import (
    ADMIN_PASSWORD,
    BOOTSTRAP_JOIN_TOKEN,
    USER_PASSWORD,
    FeedSetup,
    JoinedCluster,
    Team,
    add_feed_members,
    add_member,
    create_project,
    create_user,
    feed_events,
    join,
    login,
    send,
)


@pytest.fixture
def settings(tmp_path: Path, test_databases: DatabaseFactory) -> ControlSettings:
    return ControlSettings(
        data_dir=tmp_path / "control-data",
        database_url=test_databases.control(),
        admin_password=SecretStr(ADMIN_PASSWORD),
        join_token=SecretStr(BOOTSTRAP_JOIN_TOKEN),
        password_hash_fast=True,
    )


@pytest.fixture
def client(settings: ControlSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    """Headers of the bootstrapped admin."""
    return login(client, "admin", ADMIN_PASSWORD)


@pytest.fixture
def cluster(client: TestClient) -> JoinedCluster:
    return join(client, BOOTSTRAP_JOIN_TOKEN)


@pytest.fixture
def team(client: TestClient, admin: dict[str, str], cluster: JoinedCluster) -> Team:
    project = create_project(client, admin)
    users: dict[str, dict[str, Any]] = {}
    headers: dict[str, dict[str, str]] = {}
    for username, role in (
        ("mia", "manager"),
        ("alice", "annotator"),
        ("bob", "annotator"),
    ):
        users[username] = create_user(client, admin, username)
        add_member(client, admin, project["id"], username, role)
        headers[username] = login(client, username, USER_PASSWORD)
    users["outsider"] = create_user(client, admin, "outsider")
    headers["outsider"] = login(client, "outsider", USER_PASSWORD)
    return Team(project["id"], cluster, users, headers)


@pytest.fixture
def feed(client: TestClient, team: Team) -> FeedSetup:
    """A ner_manual feed with labels PERSON and ORG, overlap 2, 10 examples,
    on which alice and bob may annotate."""
    setup, events = feed_events(team, ["PERSON", "ORG"], overlap=2, examples_total=10)
    result = send(client, team.cluster, *events)
    assert len(result["accepted"]) == 2, result
    add_feed_members(client, team.headers["mia"], setup.feed_id, ["alice", "bob"])
    return setup
