"""Importing JSONL into datasets: hashes, annotated exports, atomic failures."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from concord.common.tasks import compute_input_hash, compute_task_hash


def lines(*records: dict) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def test_import_raw_texts_sets_hashes(cluster, signer, import_jsonl) -> None:
    result = import_jsonl("raw", lines({"text": "alpha"}, {"text": "beta", "meta": {"x": 1}}))
    assert result["status"] == 200, result["body"]
    assert result["body"]["examples_added"] == 2
    export = cluster.get(
        f"/api/datasets/{result['id']}/export", headers=signer.headers()
    )
    records = [orjson.loads(line) for line in export.content.splitlines()]
    assert [record["text"] for record in records] == ["alpha", "beta"]
    expected = compute_input_hash({"text": "alpha"})
    assert records[0]["_input_hash"] == expected
    assert records[0]["_task_hash"] == compute_task_hash({"text": "alpha"}, expected)
    assert records[1]["meta"] == {"x": 1}


def test_import_keeps_existing_hashes(cluster, signer, import_jsonl) -> None:
    record = {"text": "kept", "_input_hash": 11, "_task_hash": 22}
    result = import_jsonl("kept", lines(record))
    export = cluster.get(f"/api/datasets/{result['id']}/export", headers=signer.headers())
    stored = orjson.loads(export.content.splitlines()[0])
    assert stored["_input_hash"] == 11
    assert stored["_task_hash"] == 22


def test_reimport_adds_nothing(import_jsonl) -> None:
    body = lines({"text": "one"}, {"text": "two"})
    first = import_jsonl("again", body)
    second = import_jsonl("again", body)
    assert first["body"]["examples_added"] == 2
    assert second["body"]["examples_added"] == 0
    assert second["body"]["examples_existing"] == 2


def test_malformed_line_stores_nothing(cluster, signer, import_jsonl) -> None:
    body = b'{"text": "fine"}\n{"text": "also fine"}\n{"text": broken\n{"text": "x"}\n'
    result = import_jsonl("broken", body)
    assert result["status"] == 422
    message = result["body"]["error"]["message"]
    assert message.startswith("Line 3:")
    assert "invalid JSON" in message
    assert result["body"]["error"]["details"]["line"] == 3
    dataset = cluster.get(f"/api/datasets/{result['id']}", headers=signer.headers())
    assert dataset.json()["examples"] == 0


def test_wrong_encoding_names_line(cluster, signer, import_jsonl) -> None:
    body = b'{"text": "ok"}\n' + '{"text": "caf\u00e9"}\n'.encode("latin-1")
    result = import_jsonl("latin", body)
    assert result["status"] == 422
    assert result["body"]["error"]["details"]["line"] == 2
    assert "UTF-8" in result["body"]["error"]["message"]


def test_span_out_of_range_rejected(cluster, signer, import_jsonl) -> None:
    record = {"text": "short", "spans": [{"start": 0, "end": 50, "label": "X"}]}
    result = import_jsonl("spans", lines({"text": "fine"}, record))
    assert result["status"] == 422
    assert result["body"]["error"]["details"]["line"] == 2
    assert "past the text" in result["body"]["error"]["message"]
    dataset = cluster.get(f"/api/datasets/{result['id']}", headers=signer.headers())
    assert dataset.json()["examples"] == 0


def test_record_without_input_rejected(import_jsonl) -> None:
    result = import_jsonl("noinput", lines({"meta": {"a": 1}}))
    assert result["status"] == 422
    assert "'text'" in result["body"]["error"]["message"]


def test_annotated_export_keeps_annotators(
    cluster: TestClient, signer, import_jsonl, shared_data: Path
) -> None:
    path = shared_data / "prodigy-multiannotator-textcat-pydata-ams-2023" / "pydata-ams-2023.jsonl"
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    result = import_jsonl("pydata", path.read_bytes())
    assert result["status"] == 200, result["body"]
    body = result["body"]
    assert body["annotations_added"] == len(rows)
    assert body["examples_added"] == len({row["_task_hash"] for row in rows})
    assert sorted(body["annotators"]) == sorted({row["_annotator_id"] for row in rows})
    export = cluster.get(f"/api/datasets/{result['id']}/export", headers=signer.headers())
    exported = [orjson.loads(line) for line in export.content.splitlines()]
    pairs = {(r["_task_hash"], r["_annotator_id"], r["answer"], r["_timestamp"]) for r in rows}
    exported_pairs = {
        (r["_task_hash"], r["_annotator_id"], r["answer"], r["_timestamp"]) for r in exported
    }
    assert exported_pairs == pairs


def test_dataset_of_other_project_is_404(cluster, signer, import_jsonl) -> None:
    result = import_jsonl("mine", lines({"text": "secret"}))
    other = signer.headers(project="project-b", role="manager")
    assert cluster.get(f"/api/datasets/{result['id']}", headers=other).status_code == 404
    export = cluster.get(f"/api/datasets/{result['id']}/export", headers=other)
    assert export.status_code == 404
    listed = cluster.get("/api/datasets", headers=other).json()
    assert listed == []


def test_annotator_cannot_import(cluster, signer, import_jsonl) -> None:
    result = import_jsonl("managed", lines({"text": "a"}))
    annotator = signer.headers(role="annotator")
    response = cluster.post(
        f"/api/datasets/{result['id']}/import", content=b'{"text":"b"}\n', headers=annotator
    )
    assert response.status_code == 403


def test_unsafe_hash_rejected(import_jsonl) -> None:
    result = import_jsonl("hashes", lines({"text": "a", "_task_hash": 2**60}))
    assert result["status"] == 422
    assert "2**53" in result["body"]["error"]["message"]


def test_imported_answer_text_stays_out_of_question(cluster, signer, import_jsonl) -> None:
    annotated = {
        "text": "Hallo",
        "user_input": "Hello, private note",
        "answer": "accept",
        "_view_id": "text_input",
        "_annotator_id": "ann",
    }
    result = import_jsonl("typed", lines(annotated))
    assert result["status"] == 200, result["body"]
    spec = {"dataset_id": result["id"], "name": "again", "interface": "text_input"}
    feed = cluster.post("/api/feeds", json=spec, headers=signer.headers()).json()
    task = cluster.post(
        f"/api/feeds/{feed['id']}/next", json={"count": 1},
        headers=signer.headers(role="annotator", user="ben"),
    ).json()["tasks"][0]
    assert task["text"] == "Hallo"
    assert "user_input" not in task
