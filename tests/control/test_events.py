from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from concord.control.settings import ControlSettings
from tests.postgres import database_bytes

from .support import (
    FeedSetup,
    JoinedCluster,
    Team,
    answer_event,
    bearer,
    create_project,
    event,
    feed_events,
    join,
    send,
)

CANARY = "CANARY-7f3a-text-that-must-never-reach-the-control-plane-" * 3


def _progress(client: TestClient, team: Team, feed_id: str) -> dict[str, Any]:
    response = client.get(f"/api/feeds/{feed_id}/progress", headers=team.headers["mia"])
    assert response.status_code == 200, response.text
    return response.json()


def _database_bytes(settings: ControlSettings) -> bytes:
    """Everything the control database stores (see ``tests.postgres.database_bytes``)."""
    return database_bytes(settings.resolved_database_url)


def test_wrong_secret_rejected(client: TestClient, cluster: JoinedCluster) -> None:
    wrong = client.post("/api/events", headers=bearer("ccs_wrong"), json={"events": []})
    missing = client.post("/api/events", json={"events": []})

    assert wrong.status_code == 401
    assert missing.status_code == 401
    assert "cluster secret" in wrong.json()["error"]["message"]


def test_feed_events_create_rows(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    feeds = client.get(
        f"/api/projects/{team.project_id}/feeds", headers=team.headers["alice"]
    ).json()
    datasets = client.get(
        f"/api/projects/{team.project_id}/datasets", headers=team.headers["alice"]
    ).json()

    assert feeds == [
        {
            "id": feed.feed_id,
            "project_id": team.project_id,
            "dataset_id": feed.dataset_id,
            "name": "entities",
            "interface": "ner_manual",
            "labels": ["PERSON", "ORG"],
            "multiple": False,
            "overlap": 2,
            "lease_seconds": 600,
            "examples_total": 10,
        }
    ]
    assert datasets == [
        {
            "id": feed.dataset_id,
            "name": "articles",
            "role": "source",
            "examples_total": 0,
            "annotations": 0,
        }
    ]


def test_batch_counted_once(client: TestClient, team: Team, feed: FeedSetup) -> None:
    batch = [
        answer_event(team, feed.feed_id, "alice", 11, labels=["PERSON"]),
        answer_event(team, feed.feed_id, "bob", 11, labels=["ORG"]),
    ]
    ids = [item["event_id"] for item in batch]

    first = send(client, team.cluster, *batch)
    second = send(client, team.cluster, *batch)

    assert first == {"accepted": ids, "duplicates": [], "rejected": []}
    assert second == {"accepted": [], "duplicates": ids, "rejected": []}
    assert _progress(client, team, feed.feed_id)["answers"] == 2


def test_same_event_twice_in_one_batch(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    answer = answer_event(team, feed.feed_id, "alice", 11)

    result = send(client, team.cluster, answer, answer)

    assert result["accepted"] == [answer["event_id"]]
    assert result["duplicates"] == [answer["event_id"]]
    assert _progress(client, team, feed.feed_id)["answers"] == 1


def test_rejections_change_nothing(
    client: TestClient,
    admin: dict[str, str],
    team: Team,
    feed: FeedSetup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = client.post("/api/clusters/join-tokens", headers=admin).json()["join_token"]
    other = join(client, token, name="other", url="http://127.0.0.1:9000")
    other_project = client.post(
        "/api/projects",
        headers=admin,
        json={"name": "elsewhere", "cluster_id": other.id},
    ).json()
    undeclared = answer_event(team, feed.feed_id, "alice", 1, labels=["PERSON", "GPE"])
    unknown_feed = answer_event(team, "no-such-feed", "alice", 2)
    not_member = answer_event(team, feed.feed_id, "outsider", 3)
    wrong_cluster = answer_event(team, feed.feed_id, "alice", 4)
    wrong_cluster["cluster_id"] = other.id
    other_clusters_project = answer_event(team, feed.feed_id, "alice", 5)
    other_clusters_project["project_id"] = other_project["id"]
    good = answer_event(team, feed.feed_id, "bob", 6)
    batch = [
        undeclared,
        unknown_feed,
        not_member,
        wrong_cluster,
        other_clusters_project,
    ]

    result = send(client, team.cluster, *batch, good)

    reasons = {item["event_id"]: item["reason"] for item in result["rejected"]}
    assert result["accepted"] == [good["event_id"]]
    assert list(reasons) == [item["event_id"] for item in batch]
    assert "1 of the event's labels" in reasons[undeclared["event_id"]]
    assert "GPE" not in reasons[undeclared["event_id"]]
    assert "feed 'no-such-feed' is unknown" in reasons[unknown_feed["event_id"]]
    assert "is not a member" in reasons[not_member["event_id"]]
    assert "is not the cluster that sent" in reasons[wrong_cluster["event_id"]]
    assert (
        "is not a project on this cluster"
        in reasons[other_clusters_project["event_id"]]
    )
    progress = _progress(client, team, feed.feed_id)
    assert progress["answers"] == 1
    assert [a["username"] for a in progress["annotators"]] == ["bob"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(batch)
    assert all(item["event_id"] in caplog.text for item in batch)
    assert "GPE" not in caplog.text


def test_rejected_event_accepted_after_fix(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    early = answer_event(team, feed.feed_id, "outsider", 7)
    assert send(client, team.cluster, early)["rejected"]

    client.put(
        f"/api/projects/{team.project_id}/members",
        headers=team.headers["mia"],
        json={"username": "outsider", "role": "annotator"},
    )

    assert send(client, team.cluster, early)["accepted"] == [early["event_id"]]


def test_extra_field_is_422_without_echo(
    client: TestClient,
    settings: ControlSettings,
    team: Team,
    feed: FeedSetup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    leaky = answer_event(team, feed.feed_id, "alice", 8, labels=["PERSON"])
    leaky["text"] = CANARY
    fine = answer_event(team, feed.feed_id, "bob", 8)

    response = client.post(
        "/api/events", headers=team.cluster.headers, json={"events": [fine, leaky]}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "events.1.answer.created.text" in error["message"]
    assert "nothing from this batch was stored" in error["message"]
    assert CANARY[:20] not in response.text
    assert _progress(client, team, feed.feed_id)["answers"] == 0
    assert CANARY[:20].encode() not in _database_bytes(settings)
    assert CANARY[:20] not in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", CANARY),
        ("answer", CANARY),
        ("labels", [CANARY]),
        ("annotator_id", CANARY),
    ],
)
def test_invalid_values_not_echoed(
    client: TestClient, team: Team, feed: FeedSetup, field: str, value: Any
) -> None:
    bad = answer_event(team, feed.feed_id, "alice", 9)
    bad[field] = value

    response = client.post(
        "/api/events", headers=team.cluster.headers, json={"events": [bad]}
    )

    assert response.status_code == 422
    assert "CANARY" not in response.text


def test_unknown_key_name_not_echoed(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    bad = answer_event(team, feed.feed_id, "alice", 9)
    bad[CANARY] = 1

    response = client.post(
        "/api/events", headers=team.cluster.headers, json={"events": [bad]}
    )

    assert response.status_code == 422
    assert "CANARY" not in response.text
    assert "events.0.answer.created.<field>" in response.json()["error"]["message"]


def test_database_holds_only_event_values(
    client: TestClient,
    settings: ControlSettings,
    team: Team,
    feed: FeedSetup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    canary_label = "CANARYLABEL_" + "x" * 40
    rejected = answer_event(team, feed.feed_id, "alice", 10, labels=[canary_label])
    stored = answer_event(team, feed.feed_id, "bob", 10, labels=["ORG"])

    result = send(client, team.cluster, rejected, stored)

    assert result["accepted"] == [stored["event_id"]]
    assert canary_label not in str(result)
    database = _database_bytes(settings)
    assert stored["annotation_id"].encode() in database
    assert canary_label.encode() not in database
    assert rejected["annotation_id"].encode() not in database
    assert canary_label not in caplog.text


def test_dataset_imported_updates_totals(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    now = datetime.now(UTC)
    envelope = (team.cluster.id, team.project_id)
    imports = [
        event(
            "dataset.imported",
            *envelope,
            dataset_id=feed.dataset_id,
            examples_added=added,
            annotations_added=annotations,
            examples_total=total,
            annotators=["news-alice"],
            created_at=(now + timedelta(seconds=offset)).isoformat(),
        )
        for added, annotations, total, offset in ((30, 4, 30, 1), (20, 6, 50, 2))
    ]
    answer = answer_event(team, feed.feed_id, "alice", 12, labels=["ORG"])

    # The newer import arrives first; the older one must not lower the total.
    send(client, team.cluster, imports[1], imports[0], answer)

    datasets = client.get(
        f"/api/projects/{team.project_id}/datasets", headers=team.headers["alice"]
    ).json()
    feed_body = client.get(f"/api/feeds/{feed.feed_id}", headers=team.headers["alice"])
    assert datasets[0]["examples_total"] == 50
    assert datasets[0]["annotations"] == 4 + 6 + 1
    assert feed_body.json()["examples_total"] == 50


def test_agreement_and_gold_latest_values(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    now = datetime.now(UTC)
    envelope = (team.cluster.id, team.project_id)

    def agreement(alpha: float, offset: int) -> dict[str, Any]:
        return event(
            "agreement.computed",
            *envelope,
            source_kind="feed",
            source_id=feed.feed_id,
            items=10,
            items_excluded=1,
            annotators=2,
            ratings=20,
            percent_agreement=0.9,
            krippendorff_alpha=alpha,
            cohen_kappa=None,
            per_annotator=[],
            created_at=(now + timedelta(seconds=offset)).isoformat(),
        )

    gold = event(
        "gold.built",
        *envelope,
        source_kind="feed",
        source_id=feed.feed_id,
        gold_dataset_id="gold-1",
        min_agreement=0.5,
        items=10,
        gold_items=8,
        conflicts=2,
    )
    unknown = agreement(0.1, 0)
    unknown["source_id"] = "no-such-feed"

    result = send(
        client, team.cluster, agreement(0.8, 2), agreement(0.4, 1), gold, unknown
    )

    assert len(result["accepted"]) == 3
    assert [r["event_id"] for r in result["rejected"]] == [unknown["event_id"]]
    headers = team.headers["mia"]
    stored = client.get(f"/api/agreement/feed/{feed.feed_id}", headers=headers).json()
    built = client.get(f"/api/gold/feed/{feed.feed_id}", headers=headers).json()
    missing = client.get(f"/api/gold/dataset/{feed.dataset_id}", headers=headers)
    assert stored["values"]["krippendorff_alpha"] == 0.8
    assert stored["values"]["items_excluded"] == 1
    assert built["values"] == {
        "gold_dataset_id": "gold-1",
        "min_agreement": 0.5,
        "items": 10,
        "gold_items": 8,
        "conflicts": 2,
    }
    assert missing.status_code == 404
    annotator = client.get(
        f"/api/agreement/feed/{feed.feed_id}", headers=team.headers["bob"]
    )
    assert annotator.status_code == 403


def test_feed_of_other_project_rejected(
    client: TestClient, admin: dict[str, str], team: Team, feed: FeedSetup
) -> None:
    other = create_project(client, admin, "second")
    moved = event(
        "feed.created",
        team.cluster.id,
        other["id"],
        feed_id=feed.feed_id,
        dataset_id=feed.dataset_id,
        name="hijack",
        interface="binary",
        labels=["X"],
        multiple=False,
        overlap=1,
        lease_seconds=60,
        examples_total=1,
    )

    result = send(client, team.cluster, moved)

    assert result["rejected"][0]["event_id"] == moved["event_id"]
    feed_body = client.get(f"/api/feeds/{feed.feed_id}", headers=team.headers["mia"])
    assert feed_body.json()["name"] == "entities"


def test_feed_label_set_enforced_per_feed(client: TestClient, team: Team) -> None:
    binary, events = feed_events(team, ["SPORTS"], interface="binary")
    send(client, team.cluster, *events)

    accepted = answer_event(team, binary.feed_id, "alice", 1, labels=["SPORTS"])
    rejected = answer_event(team, binary.feed_id, "bob", 1, labels=["PERSON"])
    result = send(client, team.cluster, accepted, rejected)

    assert result["accepted"] == [accepted["event_id"]]
    assert [r["event_id"] for r in result["rejected"]] == [rejected["event_id"]]
