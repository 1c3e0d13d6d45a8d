"""``concord feed ...`` and ``concord progress``: option parsing and real planes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from concord.cli.client import ControlClient
from concord.cli.commands.feeds import Interface, build_feed_request, parse_options
from concord.cli.context import InvalidOptions, ProjectAccess
from concord.cli.demo import wait_for_progress
from concord.cli.lookup import find_project

from ..conftest import Cli, assert_ok, unique


def test_binary_feed_needs_label() -> None:
    with pytest.raises(InvalidOptions, match="--label"):
        build_feed_request("d1", "f", Interface.binary)


def test_ner_feed_needs_labels() -> None:
    with pytest.raises(InvalidOptions, match="--labels"):
        build_feed_request("d1", "f", Interface.ner_manual, labels=" , ")


def test_ner_feed_splits_labels() -> None:
    body = build_feed_request(
        "d1", "f", Interface.ner_manual, labels="ORG, PERSON,,LOC"
    )

    assert body["labels"] == ["ORG", "PERSON", "LOC"]
    assert "label" not in body


def test_choice_options_with_and_without_text() -> None:
    assert parse_options("Q1=Paris, Q2") == [
        {"id": "Q1", "text": "Paris"},
        {"id": "Q2", "text": "Q2"},
    ]
    assert parse_options("") is None


def test_choice_feed_without_options_uses_tasks() -> None:
    body = build_feed_request("d1", "f", Interface.choice, multiple=True, overlap=3)

    assert "options" not in body
    assert body["multiple"] is True
    assert body["overlap"] == 3


@pytest.fixture
def project_with_texts(cli: Cli, tmp_path: Path) -> str:
    name = unique("feeds")
    source = tmp_path / "texts.jsonl"
    source.write_text(
        "".join(json.dumps({"text": f"title {i} about docs"}) + "\n" for i in range(6))
    )
    assert_ok(cli("project", "create", name))
    assert_ok(cli("dataset", "import", name, "titles", str(source)))
    return name


def test_feed_create_and_list(cli: Cli, project_with_texts: str) -> None:
    project = project_with_texts

    created = cli(
        "feed",
        "create",
        project,
        "titles",
        "triage",
        "--interface",
        "binary",
        "--label",
        "DOCUMENTATION",
        "--overlap",
        "2",
        "--lease-seconds",
        "30",
    )
    listed = cli("feed", "list", project, "--json")

    assert_ok(created)
    assert "Created binary feed triage" in created.stdout
    assert_ok(listed)
    feeds = json.loads(listed.stdout)
    assert [feed["name"] for feed in feeds] == ["triage"]
    assert feeds[0]["overlap"] == 2
    assert feeds[0]["lease_seconds"] == 30


def test_feed_create_rejects_bad_name(cli: Cli, project_with_texts: str) -> None:
    result = cli(
        "feed",
        "create",
        project_with_texts,
        "titles",
        "has spaces",
        "--interface",
        "binary",
        "--label",
        "X",
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")


def test_progress_counts_answers(
    cli: Cli, project_with_texts: str, admin: ControlClient
) -> None:
    project = project_with_texts
    assert_ok(
        cli(
            "feed",
            "create",
            project,
            "titles",
            "count",
            "--interface",
            "binary",
            "--label",
            "DOCUMENTATION",
        )
    )
    access = ProjectAccess.open(admin, find_project(admin, project))
    feed = access.feed("count")
    tasks = access.cluster.next_tasks(feed["id"], count=3)["tasks"]
    answers = ["accept", "reject", "ignore"]
    access.cluster.submit_answers(
        feed["id"],
        [
            {
                "answer_id": uuid.uuid4().hex,
                "task_hash": task["_task_hash"],
                "answer": answer,
            }
            for task, answer in zip(tasks, answers, strict=True)
        ],
    )
    wait_for_progress(admin, feed["id"], 3)

    by_name = cli("progress", "count", "--project", project, "--json")
    by_id = cli("progress", feed["id"])

    assert_ok(by_name)
    progress = json.loads(by_name.stdout)
    assert progress["examples_total"] == 6
    assert progress["answers"] == 3
    assert progress["examples_done"] == 3
    [row] = progress["annotators"]
    assert (row["username"], row["accept"], row["reject"], row["ignore"]) == (
        "admin",
        1,
        1,
        1,
    )
    assert_ok(by_id)
    assert "3 of 6 examples done" in by_id.stdout


def test_progress_unknown_feed(cli: Cli) -> None:
    result = cli("progress", "no-such-feed")

    assert result.exit_code == 1
    assert "Feed 'no-such-feed' not found" in result.stderr


def test_ner_and_choice_feeds_from_cli(cli: Cli, project_with_texts: str) -> None:
    project = project_with_texts

    ner = cli(
        "feed",
        "create",
        project,
        "titles",
        "entities",
        "--interface",
        "ner_manual",
        "--labels",
        "ORG,PERSON",
    )
    choice = cli(
        "feed",
        "create",
        project,
        "titles",
        "kinds",
        "--interface",
        "choice",
        "--options",
        "BUG=Bug report,DOCS=Documentation",
        "--multiple",
    )
    listed = cli("feed", "list", project, "--json")

    assert_ok(ner)
    assert_ok(choice)
    feeds = {feed["name"]: feed for feed in json.loads(listed.stdout)}
    assert feeds["entities"]["labels"] == ["ORG", "PERSON"]
    assert feeds["kinds"]["multiple"] is True
    assert [option["id"] for option in feeds["kinds"]["options"]] == ["BUG", "DOCS"]
    assert feeds["kinds"]["options"][1]["text"] == "Documentation"
