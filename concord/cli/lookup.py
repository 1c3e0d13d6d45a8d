"""Find projects, datasets and feeds by name or by id.

People type names (``demo``, ``docs-triage``) and scripts pass ids; both work.
An id matches first, then an exact name. A miss raises ``LookupFailed`` with
the names that do exist and the command that creates one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from concord.cli.client import (
    ApiError,
    ClientError,
    ClusterClient,
    ControlClient,
    Project,
)


class LookupFailed(ClientError):
    """No object, or more than one, matches the name or id given."""


def _choices(names: Sequence[str]) -> str:
    if not names:
        return "there are none yet"
    shown = ", ".join(sorted(names)[:20])
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"known: {shown}{more}"


def find_project(control: ControlClient, ref: str) -> Project:
    projects = control.list_projects()
    for project in projects:
        if project.id == ref:
            return project
    named = [project for project in projects if project.name == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(project.id for project in named)
        raise LookupFailed(f"Several projects are named {ref!r} ({ids}); pass an id.")
    raise LookupFailed(
        f"Project {ref!r} not found among the projects you belong to "
        f"({_choices([p.name for p in projects])}). An admin creates one with "
        f"`concord project create {ref}`."
    )


def find_in(
    items: list[dict[str, Any]], ref: str, kind: str, hint: str
) -> dict[str, Any]:
    """Pick the item whose ``id`` or ``name`` is ``ref`` from a listing."""
    for item in items:
        if item.get("id") == ref:
            return item
    named = [item for item in items if item.get("name") == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(str(item.get("id")) for item in named)
        raise LookupFailed(f"Several {kind}s are named {ref!r} ({ids}); pass an id.")
    names = [str(item.get("name")) for item in items]
    raise LookupFailed(
        f"{kind.capitalize()} {ref!r} not found ({_choices(names)}). {hint}"
    )


def find_dataset(cluster: ClusterClient, ref: str, project_name: str) -> dict[str, Any]:
    hint = f"Create it with `concord dataset create {project_name} {ref}`."
    return find_in(cluster.list_datasets(), ref, "dataset", hint)


def find_feed(cluster: ClusterClient, ref: str, project_name: str) -> dict[str, Any]:
    hint = f"Create it with `concord feed create {project_name} DATASET {ref} ...`."
    return find_in(cluster.list_feeds(), ref, "feed", hint)


def find_feed_on_control(
    control: ControlClient, ref: str, project_ref: str | None = None
) -> dict[str, Any]:
    """Find a feed the control plane has recorded, by id or by name across projects.

    The control plane learns about feeds from the cluster's events, so a feed
    created a moment ago may not be listed yet.
    """
    if project_ref is not None:
        project = find_project(control, project_ref)
        feeds = control.list_feeds(project.id)
        return find_in(feeds, ref, "feed", _feed_hint(project.name))
    try:
        return control.get_feed(ref)
    except ApiError as exc:
        if exc.status != 404:
            raise
    matches: list[dict[str, Any]] = []
    for project in control.list_projects():
        matches.extend(
            feed for feed in control.list_feeds(project.id) if feed.get("name") == ref
        )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise LookupFailed(
            f"Several projects have a feed named {ref!r}; add --project NAME or "
            "pass the feed id."
        )
    raise LookupFailed(
        f"Feed {ref!r} not found in any of your projects. Check the name with "
        "`concord feed list PROJECT`; a new feed shows up once the cluster has "
        "reported it, usually within a second."
    )


def _feed_hint(project_name: str) -> str:
    return f"List them with `concord feed list {project_name}`."
