"""``concord demo``: the main job on real data, on this machine, with nothing else installed.

The flow starts both planes in a throwaway data folder, imports a real
multi-annotator file (42 annotators), reports agreement and builds a gold set,
then sets up a new binary feed over raw GitHub issue titles, lets three
scripted annotators answer through the HTTP API, shows the control plane's
progress, exports the results and prints where a person can annotate.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from concord.cli.annotators import AnnotatorTally, ScriptedAnnotator, run_in_turns
from concord.cli.client import ApiError, ClientError, ClusterClient, ControlClient
from concord.cli.context import ProjectAccess
from concord.cli.render import (
    print_agreement,
    print_gold,
    print_import_result,
    print_progress,
)
from concord.cli.supervisor import (
    RunningPlanes,
    lock_data_dir,
    serve_until_stopped,
    start_planes,
)
from concord.cli.transfer import export_to_file, import_file

logger = logging.getLogger(__name__)

DEMO_DATA_DIR = Path(__file__).resolve().parent / "demo_data"
MARKER_FILE = ".concord-demo"
MULTI_ANNOTATOR_FILE = "pydata-ams-2023.jsonl"
RAW_TITLES_FILE = "raw_github-issue-titles.jsonl"

PROJECT_NAME = "demo"
MULTI_DATASET = "pydata-ams-2023"
GOLD_DATASET = "pydata-ams-2023-gold"
TITLES_DATASET = "github-issue-titles"
FEED_NAME = "docs-triage"
FEED_LABEL = "DOCUMENTATION"
ANNOTATORS = ("annotator1", "annotator2", "annotator3")
PERSON = "reviewer"
PROGRESS_TIMEOUT = 60.0


class DemoError(ClientError):
    """The demo cannot run, for a reason the message gives with its fix."""


@dataclass
class DemoOptions:
    data_dir: Path = Path("concord-demo-data")
    host: str = "127.0.0.1"
    control_port: int = 8080
    cluster_port: int = 8081
    serve: bool = True
    min_agreement: float = 0.7
    tasks_per_annotator: int = 40
    source_dir: Path = DEMO_DATA_DIR


@dataclass
class DemoResult:
    """Outcome of a demo run, for its tests and for the serving step."""

    control_url: str
    cluster_url: str
    project_id: str
    feed_id: str
    agreement: dict[str, Any]
    gold: dict[str, Any]
    tallies: list[AnnotatorTally]
    progress: dict[str, Any]
    exports: dict[str, Path]
    annotate_url: str
    person_username: str
    person_password: str = field(repr=False)
    exited_plane: str | None = None


def prepare_data_dir(path: Path) -> None:
    """Wipe and recreate a demo folder, refusing any folder the demo did not create."""
    if path.exists():
        if not path.is_dir():
            raise DemoError(f"{path} is a file, not a folder. Pass another --data-dir.")
        if (path / MARKER_FILE).is_file():
            # Raises PlaneError while a running demo holds the folder.
            lock_data_dir(path).close()
            shutil.rmtree(path)
        elif any(path.iterdir()):
            raise DemoError(
                f"{path} is not empty and was not created by `concord demo` (it has "
                f"no {MARKER_FILE} file), so the demo will not wipe it. Pass another "
                "--data-dir or an empty folder."
            )
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER_FILE).write_text(
        "Created by `concord demo`, which deletes this folder on its next run.\n",
        encoding="utf-8",
    )


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    """Run the whole demo; with ``serve`` it then serves until Ctrl-C or SIGTERM."""
    for name in (MULTI_ANNOTATOR_FILE, RAW_TITLES_FILE):
        if not (options.source_dir / name).is_file():
            raise DemoError(f"Demo data file {options.source_dir / name} is missing.")
    prepare_data_dir(options.data_dir)

    _heading(console, "1. Starting the control plane and a cluster")
    planes = start_planes(
        options.data_dir, options.host, options.control_port, options.cluster_port
    )
    try:
        result = _run_flow(planes, options, console)
    except BaseException:
        planes.stop()
        raise
    if not options.serve:
        planes.stop()
        console.print("Stopped both planes (--no-serve).")
        return result
    console.print("\nServing until Ctrl-C ...")
    dead = serve_until_stopped(planes)
    if dead is not None:
        result.exited_plane = dead.name
        console.print(
            f"The {dead.title} exited. Last output:\n{dead.log_tail()}", markup=False
        )
    else:
        console.print("Stopped both planes.")
    return result


def _heading(console: Console, title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}", align="left")


def _run_flow(
    planes: RunningPlanes, options: DemoOptions, console: Console
) -> DemoResult:
    credentials = planes.credentials
    if credentials is None:
        raise DemoError(
            "The demo could not log in as the admin; see the logs in the data folder."
        )
    console.print(
        f"Control plane: {planes.control_url}   Cluster: {planes.cluster_url}"
    )
    if credentials.generated_password is not None:
        console.print(
            f"Admin login: {credentials.username} / {credentials.generated_password}",
            markup=False,
        )

    control = ControlClient(planes.control_url, credentials.token)
    project = control.create_project(PROJECT_NAME)
    access = ProjectAccess.open(control, project, owns_control=True)
    console.print(f"Created project {project.name}.")
    with access:
        agreement, gold = _review_existing(access, options, console)
        feed = _set_up_feed(access, options, console)
        person_password = _create_people(control, project.id, feed["id"])
        tallies = _annotate(
            planes.control_url, control, project.id, feed["id"], options, console
        )
        progress = _show_progress(control, feed["id"], tallies, console)
        exports = _export(access.cluster, feed, gold, options, console)

    annotate_url = f"{planes.control_url}/feeds/{feed['id']}/open"
    _print_invitation(console, annotate_url, person_password, options)
    return DemoResult(
        control_url=planes.control_url,
        cluster_url=planes.cluster_url,
        project_id=project.id,
        feed_id=feed["id"],
        agreement=agreement,
        gold=gold,
        tallies=tallies,
        progress=progress,
        exports=exports,
        annotate_url=annotate_url,
        person_username=PERSON,
        person_password=person_password,
    )


def _print_invitation(
    console: Console, annotate_url: str, person_password: str, options: DemoOptions
) -> None:
    _heading(console, "9. Annotate it yourself")
    console.print(f"Open {annotate_url}", markup=False)
    console.print(
        f"and sign in as {PERSON} / {person_password} (a demo account).", markup=False
    )
    console.print(
        "The command line is logged in as the admin: try "
        f"`concord --data-dir {options.data_dir} progress {FEED_NAME}`.",
        markup=False,
    )


def _review_existing(
    access: ProjectAccess, options: DemoOptions, console: Console
) -> tuple[dict[str, Any], dict[str, Any]]:
    _heading(console, "2. Importing a real multi-annotator file (42 annotators)")
    dataset = access.cluster.create_dataset(MULTI_DATASET)
    result = import_file(
        access.cluster,
        dataset["id"],
        options.source_dir / MULTI_ANNOTATOR_FILE,
        console,
    )
    print_import_result(console, result)

    _heading(console, "3. Inter-annotator agreement")
    source = {"dataset_id": dataset["id"]}
    agreement = access.cluster.agreement(source)
    print_agreement(console, agreement)

    _heading(
        console, f"4. Gold set (an item needs {options.min_agreement:.0%} agreement)"
    )
    gold = access.cluster.build_gold(source, GOLD_DATASET, options.min_agreement)
    print_gold(console, gold)
    conflicts = access.cluster.conflicts(source, options.min_agreement)
    console.print(
        f"{conflicts.get('count')} conflicts to review: "
        f"`concord conflicts {PROJECT_NAME} --dataset {MULTI_DATASET} "
        f"--min-agreement {options.min_agreement}`.",
        markup=False,
    )
    return agreement, gold


def _set_up_feed(
    access: ProjectAccess, options: DemoOptions, console: Console
) -> dict[str, Any]:
    _heading(console, "5. A new job: are these GitHub issues about documentation?")
    dataset = access.cluster.create_dataset(TITLES_DATASET)
    result = import_file(
        access.cluster, dataset["id"], options.source_dir / RAW_TITLES_FILE, console
    )
    print_import_result(console, result)
    feed = access.cluster.create_feed(
        {
            "dataset_id": dataset["id"],
            "name": FEED_NAME,
            "interface": "binary",
            "label": FEED_LABEL,
            "overlap": 2,
            "instructions": "Accept when the issue is about documentation.",
        }
    )
    console.print(
        f"Created binary feed {FEED_NAME} (label {FEED_LABEL}, each title answered "
        "by 2 annotators)."
    )
    return feed


def _create_people(control: ControlClient, project_id: str, feed_id: str) -> str:
    """Create the scripted annotators' accounts and the person's; return the person's password."""
    for username in ANNOTATORS:
        control.create_user(username, _annotator_password(username))
        control.set_member(project_id, username, "annotator")
    control.set_feed_members(feed_id, list(ANNOTATORS))
    password = secrets.token_urlsafe(9)
    control.create_user(PERSON, password)
    control.set_member(project_id, PERSON, "reviewer")
    return password


# The scripted annotators' passwords only need to differ from one demo run to
# the next. No person types them, so they are derived from one random value.
_RUN_SECRET = secrets.token_urlsafe(16)


def _annotator_password(username: str) -> str:
    return f"{username}-{_RUN_SECRET}"


def _annotate(
    control_url: str,
    admin: ControlClient,
    project_id: str,
    feed_id: str,
    options: DemoOptions,
    console: Console,
) -> list[AnnotatorTally]:
    _heading(console, "6. Scripted annotators")
    console.print(
        f"Created users {', '.join(ANNOTATORS)}. Scripted annotators (not people) are "
        "now answering through the HTTP API: each accepts a title that mentions "
        "doc, readme or typo and rejects the rest."
    )
    sessions = []
    clients = []
    for username in ANNOTATORS:
        control = ControlClient(control_url)
        control.login(username, _annotator_password(username))
        access = ProjectAccess.open(
            control, admin.get_project(project_id), owns_control=True
        )
        clients.append(access)
        sessions.append(ScriptedAnnotator(username, access.cluster, feed_id))
    try:
        tallies = run_in_turns(sessions, options.tasks_per_annotator)
    finally:
        for access in clients:
            access.close()
    for tally in tallies:
        console.print(
            f"  {tally.username}: {tally.answers} answers "
            f"({tally.accept} accept, {tally.reject} reject)"
        )
    return tallies


def _show_progress(
    control: ControlClient,
    feed_id: str,
    tallies: list[AnnotatorTally],
    console: Console,
) -> dict[str, Any]:
    _heading(console, "7. Progress, as the control plane counts it")
    expected = sum(tally.answers for tally in tallies)
    progress = wait_for_progress(control, feed_id, expected)
    print_progress(console, progress)
    return progress


def wait_for_progress(
    control: ControlClient,
    feed_id: str,
    answers: int,
    timeout: float = PROGRESS_TIMEOUT,
) -> dict[str, Any]:
    """Poll the control plane until it counts ``answers`` answers on the feed.

    The cluster reports answers as events that a background sender delivers,
    so the control plane's count trails the cluster's by a moment.
    """
    deadline = time.monotonic() + timeout
    progress: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            progress = control.feed_progress(feed_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            if progress.get("answers") == answers:
                return progress
        time.sleep(0.25)
    raise DemoError(
        f"The control plane counted {progress.get('answers')} answers on feed "
        f"{feed_id} after {timeout:.0f} s, expected {answers}. Check "
        "logs/cluster.log in the data folder for event delivery errors."
    )


def _export(
    cluster: ClusterClient,
    feed: dict[str, Any],
    gold: dict[str, Any],
    options: DemoOptions,
    console: Console,
) -> dict[str, Path]:
    _heading(console, "8. Exports")
    folder = options.data_dir.resolve() / "exports"
    feed_file = export_to_file(
        cluster, "feed", feed["id"], folder / f"{FEED_NAME}.jsonl", console
    )
    gold_file = export_to_file(
        cluster,
        "dataset",
        gold["dataset"]["id"],
        folder / f"{GOLD_DATASET}.jsonl",
        console,
    )
    for exported in (feed_file, gold_file):
        console.print(
            f"Wrote {exported.lines} records to {exported.path}", markup=False
        )
    return {"feed": feed_file.path, "gold": gold_file.path}
