from __future__ import annotations

from datetime import timedelta

import httpx

from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.control.models import Invitation, utcnow

from .support import USER_PASSWORD, Team, login


def _invite(client: TestClient, team: Team, role: str = "reviewer") -> dict[str, str]:
    response = client.post(
        f"/api/projects/{team.project_id}/invitations",
        headers=team.headers["mia"],
        json={"role": role},
    )
    assert response.status_code == 201, response.text
    return response.json()


def _path(invitation: dict[str, str]) -> str:
    return "/invite/" + invitation["url"].rsplit("/", 1)[1]


def _accept(
    client: TestClient, path: str, username: str, again: str = USER_PASSWORD
) -> httpx.Response:
    page = client.get(path)
    assert page.status_code == 200, page.text
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post(
        path,
        data={
            "username": username,
            "password": USER_PASSWORD,
            "password_again": again,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )


def test_invitation_creates_member(client: TestClient, team: Team) -> None:
    invitation = _invite(client, team)

    response = _accept(client, _path(invitation), "nina")

    assert invitation["url"].startswith("http://127.0.0.1:8080/invite/cin_")
    assert response.status_code == 303
    assert client.get("/").status_code == 200
    members = client.get(
        f"/api/projects/{team.project_id}/members", headers=team.headers["mia"]
    ).json()
    assert ("nina", "reviewer") in [(m["username"], m["role"]) for m in members]
    assert login(client, "nina", USER_PASSWORD)


def test_invitation_works_once(client: TestClient, team: Team) -> None:
    path = _path(_invite(client, team))
    _accept(client, path, "nina")
    client.cookies.clear()

    again = client.get(path)

    assert again.status_code == 404
    assert "invalid, was already used or has expired" in again.text


def test_expired_invitation_refused(client: TestClient, team: Team) -> None:
    invitation = _invite(client, team)
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        row = session.get(Invitation, invitation["id"])
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()

    assert client.get(_path(invitation)).status_code == 404


def test_invitation_default_lifetime(client: TestClient, team: Team) -> None:
    invitation = _invite(client, team)

    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        row = session.get(Invitation, invitation["id"])
        lifetime = row.expires_at - row.created_at

    assert abs(lifetime - timedelta(hours=72)) < timedelta(seconds=5)


def test_revoked_invitation_refused(client: TestClient, team: Team) -> None:
    invitation = _invite(client, team)

    revoked = client.delete(
        f"/api/projects/{team.project_id}/invitations/{invitation['id']}",
        headers=team.headers["mia"],
    )
    listed = client.get(
        f"/api/projects/{team.project_id}/invitations", headers=team.headers["mia"]
    ).json()

    assert revoked.status_code == 204
    assert client.get(_path(invitation)).status_code == 404
    assert [(i["id"], i["status"]) for i in listed] == [(invitation["id"], "revoked")]
    assert "url" not in listed[0]


def test_token_stored_hashed(client: TestClient, team: Team) -> None:
    invitation = _invite(client, team)
    token = invitation["url"].rsplit("/", 1)[1]

    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        hashes = list(session.scalars(select(Invitation.token_hash)))

    assert token not in hashes
    assert len(hashes) == 1


def test_form_checks_input(client: TestClient, team: Team) -> None:
    path = _path(_invite(client, team))

    differ = _accept(client, path, "nina", again="another-password")
    bad_name = _accept(client, path, "has space")
    taken = _accept(client, path, "alice")

    assert differ.status_code == 422
    assert "passwords differ" in differ.text
    assert bad_name.status_code == 422
    assert "Invalid username" in bad_name.text
    assert taken.status_code == 409
    assert client.get(path).status_code == 200


def test_form_needs_csrf(client: TestClient, team: Team) -> None:
    path = _path(_invite(client, team))

    response = client.post(
        path,
        data={
            "username": "nina",
            "password": USER_PASSWORD,
            "password_again": USER_PASSWORD,
        },
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert client.get(path).status_code == 200


def test_annotator_cannot_invite(client: TestClient, team: Team) -> None:
    response = client.post(
        f"/api/projects/{team.project_id}/invitations",
        headers=team.headers["alice"],
        json={"role": "manager"},
    )

    assert response.status_code == 403
