"""Agreement, conflicts and gold on the real multi-annotator export."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import krippendorff
import numpy as np
import orjson
import pytest


@pytest.fixture
def pydata(cluster, signer, import_jsonl, shared_data: Path) -> tuple[str, list[dict]]:
    path = shared_data / "prodigy-multiannotator-textcat-pydata-ams-2023" / "pydata-ams-2023.jsonl"
    result = import_jsonl("pydata", path.read_bytes())
    assert result["status"] == 200, result["body"]
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return result["id"], rows


def latest_votes(rows: list[dict]) -> dict[int, dict[str, str]]:
    """Latest answer per (item, annotator), ignore dropped: the documented conventions."""
    latest: dict[tuple[int, str], tuple[int, int, str]] = {}
    for order, row in enumerate(rows):
        key = (row["_task_hash"], row["_annotator_id"])
        candidate = (row["_timestamp"], order, row["answer"])
        if key not in latest or candidate[:2] > latest[key][:2]:
            latest[key] = candidate
    table: dict[int, dict[str, str]] = defaultdict(dict)
    for (item, annotator), (_ts, _order, answer) in latest.items():
        if answer != "ignore":
            table[item][annotator] = answer
    return table


def test_agreement_matches_krippendorff_package(cluster, signer, pydata) -> None:
    dataset_id, rows = pydata
    response = cluster.post(
        "/api/agreement", json={"dataset_id": dataset_id}, headers=signer.headers(role="reviewer")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    table = latest_votes(rows)
    kept = {item: votes for item, votes in table.items() if len(votes) >= 2}
    annotators = sorted({a for votes in kept.values() for a in votes})
    codes = {"accept": 1.0, "reject": 0.0}
    matrix = np.full((len(annotators), len(kept)), np.nan)
    for column, votes in enumerate(kept.values()):
        for annotator, answer in votes.items():
            matrix[annotators.index(annotator), column] = codes[answer]
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert report["krippendorff_alpha"] == pytest.approx(expected, abs=1e-9)
    assert report["items"] == len(kept)
    assert report["items_excluded"] == len(table) - len(kept) + (
        len({row["_task_hash"] for row in rows}) - len(table)
    )
    assert report["annotators"] == len(annotators)
    assert len(report["per_annotator"]) == len(annotators)


def test_gold_and_conflicts(cluster, signer, pydata) -> None:
    dataset_id, rows = pydata
    headers = signer.headers(role="reviewer")
    threshold = 0.7
    gold = cluster.post(
        "/api/gold",
        json={"dataset_id": dataset_id, "name": "pydata-gold", "min_agreement": threshold},
        headers=headers,
    )
    assert gold.status_code == 200, gold.text
    body = gold.json()
    table = latest_votes(rows)
    expected_gold = {}
    for item, votes in table.items():
        counts = Counter(votes.values()).most_common()
        top, top_count = counts[0]
        runner = counts[1][1] if len(counts) > 1 else 0
        if top_count > runner and top_count / len(votes) >= threshold:
            expected_gold[item] = top
    assert body["gold_items"] == len(expected_gold)
    assert body["conflicts"] == len(table) - len(expected_gold)
    export = cluster.get(
        f"/api/datasets/{body['dataset']['id']}/export", headers=signer.headers()
    )
    records = [orjson.loads(line) for line in export.content.splitlines()]
    assert {r["_task_hash"]: r["answer"] for r in records} == expected_gold
    assert {r["_annotator_id"] for r in records} == {"gold"}

    conflicts = cluster.get(
        "/api/conflicts",
        params={"dataset_id": dataset_id, "min_agreement": threshold},
        headers=headers,
    ).json()
    assert conflicts["count"] == body["conflicts"]
    sample = conflicts["conflicts"][0]
    votes = table[sample["task_hash"]]
    for group in sample["answers"]:
        assert sorted(a for a, v in votes.items() if v == group["value"]) == group["annotators"]


def test_gold_rebuild_replaces(cluster, signer, pydata) -> None:
    dataset_id, _rows = pydata
    headers = signer.headers(role="reviewer")
    first = cluster.post(
        "/api/gold", json={"dataset_id": dataset_id, "name": "g", "min_agreement": 0.5}, headers=headers
    ).json()
    second = cluster.post(
        "/api/gold", json={"dataset_id": dataset_id, "name": "g", "min_agreement": 0.9}, headers=headers
    ).json()
    assert second["dataset"]["id"] == first["dataset"]["id"]
    dataset = cluster.get(f"/api/datasets/{first['dataset']['id']}", headers=headers).json()
    assert dataset["examples"] == second["gold_items"]
    assert second["gold_items"] < first["gold_items"]


def test_annotator_cannot_build_gold(cluster, signer, pydata) -> None:
    dataset_id, _rows = pydata
    response = cluster.post(
        "/api/gold",
        json={"dataset_id": dataset_id, "name": "g"},
        headers=signer.headers(role="annotator"),
    )
    assert response.status_code == 403


def test_agreement_on_boxes_and_text(cluster, signer, import_jsonl) -> None:
    box = {"label": "CAR", "x": 1, "y": 2, "width": 3, "height": 4}
    records = [
        {"image": "a.png", "spans": [box], "answer": "accept", "_view_id": "image_manual",
         "_annotator_id": "ann"},
        {"image": "a.png", "spans": [box], "answer": "accept", "_view_id": "image_manual",
         "_annotator_id": "ben"},
        {"text": "x", "user_input": "same", "answer": "accept", "_view_id": "text_input",
         "_annotator_id": "ann"},
        {"text": "x", "user_input": "other", "answer": "accept", "_view_id": "text_input",
         "_annotator_id": "ben"},
    ]
    result = import_jsonl("mixed", b"".join(orjson.dumps(r) + b"\n" for r in records))
    assert result["status"] == 200, result["body"]
    response = cluster.post(
        "/api/agreement", json={"dataset_id": result["id"]}, headers=signer.headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == 2
    assert response.json()["percent_agreement"] == pytest.approx(0.5)
