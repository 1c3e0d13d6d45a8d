"""Scripted annotators: the rule, and taking turns on a real feed until it runs dry."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from concord.cli.annotators import ScriptedAnnotator, mentions_docs, run_in_turns
from concord.cli.client import ControlClient
from concord.cli.context import ProjectAccess
from concord.cli.supervisor import RunningPlanes
from concord.cli.transfer import import_file

from .conftest import unique


def test_rule_accepts_docs_titles() -> None:
    assert mentions_docs({"text": "Update README for v2"}) == "accept"
    assert mentions_docs({"text": "Fix typo in error message"}) == "accept"
    assert mentions_docs({"text": "Describe streaming arguments in Docs"}) == "accept"
    assert mentions_docs({"text": "Crash on startup"}) == "reject"
    assert mentions_docs({}) == "reject"


def test_turns_stop_when_feed_runs_dry(
    planes: RunningPlanes, admin: ControlClient, tmp_path: Path
) -> None:
    project = admin.create_project(unique("turns"))
    source = tmp_path / "six.jsonl"
    source.write_text(
        "".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(6))
    )
    sessions = []
    accesses = []
    with ProjectAccess.open(admin, project) as manager:
        dataset = manager.cluster.create_dataset("six")
        import_file(manager.cluster, dataset["id"], source, Console(quiet=True))
        feed = manager.cluster.create_feed(
            {
                "dataset_id": dataset["id"],
                "name": "six",
                "interface": "binary",
                "label": "DOCS",
                "overlap": 2,
            }
        )
        for number in range(3):
            username = unique(f"turn{number}")
            admin.create_user(username, "turn-password-1")
            admin.set_member(project.id, username, "annotator")
            admin.set_feed_members(feed["id"], [username])
            control = ControlClient(planes.control_url)
            control.login(username, "turn-password-1")
            access = ProjectAccess.open(control, project, owns_control=True)
            accesses.append(access)
            sessions.append(ScriptedAnnotator(username, access.cluster, feed["id"]))

        # 6 examples with overlap 2 have 12 answer slots for 3 x 5 wanted answers.
        tallies = run_in_turns(sessions, tasks_each=5, batch_size=2)
        progress = manager.cluster.progress(feed["id"])
        for access in accesses:
            access.close()

    assert sum(t.answers for t in tallies) == 12
    assert all(t.answers <= 5 for t in tallies)
    assert all(t.accept == t.answers for t in tallies)
    assert progress["examples_done"] == 6
    assert progress["answers"] == 12
