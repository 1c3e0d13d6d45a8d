"""The main job over HTTP for each interface, on real data, with three annotators and overlap 2.

For binary (raw GitHub issue titles), choice (the Emerson entity-linking set,
answers stripped) and manual NER (raw news headlines), each test: imports the
file, creates a feed, lets three annotator accounts ask for tasks, answer,
undo and answer again, then checks the control plane's progress and the
feed's export against what was answered.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from concord.cli.client import ApiError, ControlClient
from concord.cli.context import ProjectAccess
from concord.cli.supervisor import RunningPlanes
from concord.common.tasks import strip_annotation

from .conftest import poll

pytestmark = pytest.mark.e2e

OVERLAP = 2
ANNOTATORS = 3
TASKS_EACH = 8
PASSWORD = "e2e-annotator-password"
# Prodigy's view id for each interface, which exported records carry.
VIEW_IDS = {"binary": "classification", "choice": "choice", "ner_manual": "ner_manual"}

# Builds the interface part of an answer for annotator ``who`` on ``task``.
AnswerMaker = Callable[[dict[str, Any], int], dict[str, Any]]


@dataclass
class Scenario:
    interface: str
    records: list[dict[str, Any]]
    feed: dict[str, Any]
    make_answer: AnswerMaker
    # A payload the cluster must reject for ``task``, with the message it names.
    make_invalid: Callable[[dict[str, Any]], tuple[dict[str, Any], str]]


@dataclass
class Ledger:
    """The answers each annotator has standing, as the test expects them."""

    standing: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def record(self, username: str, answer: dict[str, Any]) -> None:
        self.standing[(username, answer["task_hash"])] = answer

    def forget(self, username: str, task_hash: int) -> None:
        del self.standing[(username, task_hash)]

    def per_task(self) -> Counter[int]:
        return Counter(task_hash for _, task_hash in self.standing)

    def per_annotator(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for (username, _), answer in self.standing.items():
            row = counts.setdefault(username, {"accept": 0, "reject": 0, "ignore": 0})
            row[answer["answer"]] += 1
        return counts


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def encode(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode("utf-8") + b"\n" for record in records)


def binary_answer(task: dict[str, Any], who: int) -> dict[str, Any]:
    text = task["text"].lower()
    if who == 2 and len(text) % 3 == 0:
        return {"answer": "ignore"}
    return {"answer": "accept" if "doc" in text or who == 1 else "reject"}


def binary_invalid(task: dict[str, Any]) -> tuple[dict[str, Any], str]:
    return {"answer": "maybe"}, "answers.0.answer"


def choice_answer(task: dict[str, Any], who: int) -> dict[str, Any]:
    options = [option["id"] for option in task["options"]]
    return {"answer": "accept", "accept": [options[who % len(options)]]}


def choice_invalid(task: dict[str, Any]) -> tuple[dict[str, Any], str]:
    return {"answer": "accept", "accept": ["Q0"]}, "option 'Q0' is not an option"


def ner_answer(task: dict[str, Any], who: int) -> dict[str, Any]:
    first = task["tokens"][0]
    label = ("ORG", "PERSON", "LOCATION")[who]
    return {
        "answer": "accept",
        "spans": [{"start": first["start"], "end": first["end"], "label": label}],
    }


def ner_invalid(task: dict[str, Any]) -> tuple[dict[str, Any], str]:
    token = next(t for t in task["tokens"] if t["end"] - t["start"] > 1)
    span = {"start": token["start"], "end": token["end"] - 1, "label": "ORG"}
    return {"answer": "accept", "spans": [span]}, "token boundaries"


def scenario(kind: str, shared_data: Path) -> Scenario:
    if kind == "binary":
        path = (
            shared_data
            / "prodigy-textcat-binary-github-docs"
            / "raw_github-issue-titles.jsonl"
        )
        return Scenario(
            "binary",
            read_jsonl(path),
            {"label": "DOCUMENTATION"},
            binary_answer,
            binary_invalid,
        )
    if kind == "choice":
        path = (
            shared_data / "prodigy-choice-emerson-nel" / "emerson_annotated_text.jsonl"
        )
        records = [strip_annotation(record) for record in read_jsonl(path)]
        return Scenario("choice", records, {}, choice_answer, choice_invalid)
    path = (
        shared_data / "prodigy-ner-manual-news-headlines" / "news_headlines.raw.jsonl"
    )
    return Scenario(
        "ner_manual",
        read_jsonl(path),
        {"labels": ["ORG", "PERSON", "LOCATION"]},
        ner_answer,
        ner_invalid,
    )


def new_answer(task: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], **payload}


def annotate(
    access: ProjectAccess,
    username: str,
    who: int,
    feed_id: str,
    case: Scenario,
    ledger: Ledger,
) -> None:
    """Answer TASKS_EACH tasks one request at a time, with an undo and a resend."""
    cluster = access.cluster
    served = cluster.next_tasks(feed_id, count=TASKS_EACH)
    tasks = served["tasks"]
    assert len(tasks) == TASKS_EACH
    assert served["lease_expires_at"] is not None
    again = cluster.next_tasks(feed_id, count=TASKS_EACH)["tasks"]
    assert [t["_task_hash"] for t in again] == [t["_task_hash"] for t in tasks]

    for task in tasks:
        answer = new_answer(task, case.make_answer(task, who))
        result = cluster.submit_answers(feed_id, [answer])
        assert result == {"stored": [answer["answer_id"]], "duplicates": []}
        ledger.record(username, answer)

    resent = cluster.submit_answers(feed_id, [answer])
    assert resent == {"stored": [], "duplicates": [answer["answer_id"]]}

    undone = cluster.undo(feed_id)
    assert undone["undone"] == {
        "answer_id": answer["answer_id"],
        "task_hash": answer["task_hash"],
    }
    assert undone["task"]["_task_hash"] == answer["task_hash"]
    ledger.forget(username, answer["task_hash"])
    leased_back = cluster.next_tasks(feed_id, count=1)["tasks"]
    assert [t["_task_hash"] for t in leased_back] == [answer["task_hash"]]

    payload, message = case.make_invalid(undone["task"])
    with pytest.raises(ApiError) as rejected:
        cluster.submit_answers(feed_id, [new_answer(undone["task"], payload)])
    assert rejected.value.status == 422
    assert message in str(rejected.value) or message in json.dumps(
        rejected.value.details
    )

    # The second answer on the task is the other way round where possible.
    final = new_answer(
        undone["task"], case.make_answer(undone["task"], (who + 1) % ANNOTATORS)
    )
    assert cluster.submit_answers(feed_id, [final])["stored"] == [final["answer_id"]]
    ledger.record(username, final)


def expected_export_key(username: str, answer: dict[str, Any]) -> tuple[Any, ...]:
    spans = tuple((s["start"], s["end"], s["label"]) for s in answer.get("spans", []))
    return (
        username,
        answer["task_hash"],
        answer["answer"],
        tuple(answer.get("accept", [])),
        spans,
    )


def export_key(record: dict[str, Any], interface: str) -> tuple[Any, ...]:
    # Choice tasks keep the spans they were imported with, which are not an answer.
    spans: tuple[Any, ...] = ()
    if interface == "ner_manual":
        spans = tuple(
            (s["start"], s["end"], s["label"]) for s in record.get("spans", [])
        )
    accept = tuple(record.get("accept", [])) if interface == "choice" else ()
    return (
        record["_annotator_id"],
        record["_task_hash"],
        record["answer"],
        accept,
        spans,
    )


def progress_summary(progress: dict[str, Any]) -> dict[str, Any]:
    return {
        "answers": progress.get("answers"),
        "examples_done": progress.get("examples_done"),
        "examples_started": progress.get("examples_started"),
        "annotators": {
            row["username"]: {k: row[k] for k in ("accept", "reject", "ignore")}
            for row in progress.get("annotators", [])
        },
    }


@pytest.mark.parametrize("kind", ["binary", "choice", "ner_manual"])
def test_main_job(
    kind: str,
    planes: RunningPlanes,
    admin: ControlClient,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    case = scenario(kind, shared_data)
    project = admin.create_project(f"e2e-{kind}")
    usernames = [f"{kind}-annotator{i}" for i in range(1, ANNOTATORS + 1)]
    for username in usernames:
        admin.create_user(username, PASSWORD)
        admin.set_member(project.id, username, "annotator")

    with ProjectAccess.open(admin, project) as manager:
        dataset = manager.cluster.create_dataset(f"{kind}-source")
        imported = manager.cluster.import_jsonl(dataset["id"], [encode(case.records)])
        feed = manager.cluster.create_feed(
            {
                "dataset_id": dataset["id"],
                "name": f"{kind}-feed",
                "interface": kind,
                "overlap": OVERLAP,
                **case.feed,
            }
        )
        admin.set_feed_members(feed["id"], usernames)
        ledger = Ledger()
        for who, username in enumerate(usernames):
            control = ControlClient(planes.control_url)
            control.login(username, PASSWORD)
            with ProjectAccess.open(control, project, owns_control=True) as access:
                annotate(access, username, who, feed["id"], case, ledger)
        cluster_progress = manager.cluster.progress(feed["id"])
        export_path = tmp_path / "feed.jsonl"
        with manager.cluster.export("feed", feed["id"]) as response:
            export_path.write_bytes(response.read())

    per_task = ledger.per_task()
    expected = {
        "answers": len(ledger.standing),
        "examples_done": sum(1 for n in per_task.values() if n >= OVERLAP),
        "examples_started": len(per_task),
        "annotators": ledger.per_annotator(),
    }
    control_progress = poll(
        lambda: admin.feed_progress(feed["id"]),
        lambda progress: progress_summary(progress) == expected,
    )
    exported = read_jsonl(export_path)

    assert imported["examples_added"] == len({r["text"] for r in case.records})
    assert max(per_task.values()) <= OVERLAP
    assert expected["examples_done"] > 0
    assert progress_summary(control_progress) == expected
    assert control_progress["examples_total"] == imported["examples_added"]
    assert control_progress["overlap"] == OVERLAP
    assert cluster_progress["answers"] == expected["answers"]
    assert cluster_progress["examples_done"] == expected["examples_done"]
    assert sorted(export_key(record, kind) for record in exported) == sorted(
        expected_export_key(username, answer)
        for (username, _), answer in ledger.standing.items()
    )
    assert {record["_view_id"] for record in exported} == {VIEW_IDS[kind]}
