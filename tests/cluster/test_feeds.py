"""Creating feeds of every interface: required settings, errors, the event sent up."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.cluster.models import OutboxEvent
from concord.common.events import FeedCreated
from tests.cluster.conftest import ImportFn, Signer


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def create(cluster: TestClient, signer: Signer, **spec: Any):  # noqa: ANN201
    return cluster.post("/api/feeds", json=spec, headers=signer.headers())


@pytest.fixture
def dataset_id(import_jsonl: ImportFn) -> str:
    return import_jsonl("texts", jsonl({"text": "one"}, {"text": "two"}))["id"]


def test_every_interface_declared_once(cluster_app, cluster, signer, dataset_id) -> None:
    specs = [
        {"interface": "spans_manual", "labels": ["A", "B"]},
        {"interface": "image_manual", "labels": ["CAT"]},
        {"interface": "text_input", "field_label": "Correction", "max_length": 500},
    ]
    for number, spec in enumerate(specs):
        response = create(cluster, signer, dataset_id=dataset_id, name=f"feed-{number}", **spec)
        assert response.status_code == 201, response.text

    with cluster_app.state.context.db.sessions() as session:
        payloads = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.kind == "feed.created")
        ).all()
    events = [FeedCreated.model_validate(payload) for payload in payloads]
    assert [(event.interface, event.labels) for event in events] == [
        ("spans_manual", ["A", "B"]),
        ("image_manual", ["CAT"]),
        ("text_input", []),
    ]
    assert "Correction" not in orjson.dumps(payloads).decode()


def test_text_input_settings_echoed(cluster, signer, dataset_id) -> None:
    response = create(cluster, signer, dataset_id=dataset_id, name="fix", interface="text_input")

    feed = response.json()
    assert (feed["field_label"], feed["max_length"]) == ("Your answer", 10_000)
    assert feed["labels"] == []


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"interface": "spans_manual"}, "A spans_manual feed needs 'labels'"),
        ({"interface": "image_manual"}, "A image_manual feed needs 'labels'"),
        ({"interface": "text_input", "labels": ["X"]}, "takes no 'labels'"),
        ({"interface": "ner_manual", "labels": ["X"], "field_label": "Y"},
         "'field_label' and 'max_length' apply only"),
        ({"interface": "spans_manual", "labels": ["X"], "multiple": True},
         "'multiple' applies only to choice"),
        ({"interface": "binary", "label": "X", "source_feed_id": "abc"},
         "'source_feed_id' applies only to review feeds"),
        ({"interface": "spans_manual", "labels": ["has space"]}, "Invalid label 'has space'"),
    ],
)
def test_bad_feed_specs_rejected(cluster, signer, dataset_id, spec, fragment) -> None:
    response = create(cluster, signer, dataset_id=dataset_id, name="bad", **spec)

    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert cluster.get("/api/feeds", headers=signer.headers()).json() == []


def test_feed_needs_a_dataset(cluster, signer) -> None:
    response = create(cluster, signer, name="lost", interface="binary", label="X")

    assert response.status_code == 422
    assert "needs 'dataset_id'" in response.json()["error"]["message"]
