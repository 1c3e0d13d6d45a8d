from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.control.models import Feed
from concord.control.progress import compute_progress

from .support import FeedSetup, Team, answer_event, send, undo_event


def test_progress_with_overlap_and_undo(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    alice_first = answer_event(team, feed.feed_id, "alice", 101, labels=["PERSON"])
    events = [
        alice_first,
        answer_event(team, feed.feed_id, "bob", 101, "reject"),
        answer_event(team, feed.feed_id, "alice", 102, "ignore"),
        answer_event(team, feed.feed_id, "bob", 102),
        answer_event(team, feed.feed_id, "mia", 102, "reject"),
        answer_event(team, feed.feed_id, "alice", 103),
    ]
    send(client, team.cluster, *events)
    url = f"/api/feeds/{feed.feed_id}/progress"

    before = client.get(url, headers=team.headers["mia"]).json()
    send(client, team.cluster, undo_event(team, alice_first))
    after = client.get(url, headers=team.headers["mia"]).json()

    assert before["examples_done"] == 2
    assert before["examples_started"] == 3
    assert before["answers"] == 6
    assert after == {
        "feed_id": feed.feed_id,
        "name": "entities",
        "overlap": 2,
        "examples_total": 10,
        "examples_done": 1,
        "examples_started": 3,
        "answers": 5,
        "annotators": [
            {
                "user_id": team.users["alice"]["id"],
                "username": "alice",
                "answers": 2,
                "accept": 1,
                "reject": 0,
                "ignore": 1,
            },
            {
                "user_id": team.users["bob"]["id"],
                "username": "bob",
                "answers": 2,
                "accept": 1,
                "reject": 1,
                "ignore": 0,
            },
            {
                "user_id": team.users["mia"]["id"],
                "username": "mia",
                "answers": 1,
                "accept": 0,
                "reject": 1,
                "ignore": 0,
            },
        ],
    }


def test_annotator_sees_own_row_only(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    send(
        client,
        team.cluster,
        answer_event(team, feed.feed_id, "alice", 1),
        answer_event(team, feed.feed_id, "bob", 1),
        answer_event(team, feed.feed_id, "bob", 2),
    )
    url = f"/api/feeds/{feed.feed_id}/progress"

    alice = client.get(url, headers=team.headers["alice"]).json()
    manager = client.get(url, headers=team.headers["mia"]).json()

    assert [row["username"] for row in alice["annotators"]] == ["alice"]
    assert alice["answers"] == 3
    assert alice["examples_done"] == 1
    assert [row["username"] for row in manager["annotators"]] == ["alice", "bob"]


def test_undo_of_unknown_answer_rejected(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    answer = answer_event(team, feed.feed_id, "alice", 5)
    send(client, team.cluster, answer)
    forged = undo_event(team, {**answer, "annotator_id": team.users["bob"]["id"]})

    result = send(client, team.cluster, forged)

    assert [r["event_id"] for r in result["rejected"]] == [forged["event_id"]]
    progress = client.get(
        f"/api/feeds/{feed.feed_id}/progress", headers=team.headers["bob"]
    ).json()
    assert progress["answers"] == 1


def test_empty_feed_progress(client: TestClient, team: Team, feed: FeedSetup) -> None:
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        row = session.scalars(select(Feed).where(Feed.id == feed.feed_id)).one()
        progress = compute_progress(session, row)

    assert progress.examples_done == 0
    assert progress.examples_started == 0
    assert progress.answers == 0
    assert progress.annotators == []
