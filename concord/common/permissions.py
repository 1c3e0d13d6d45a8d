"""The permission table of both planes: who may call which route.

Each rule maps a plane, an HTTP method and a route path template, spelled
exactly as FastAPI declares it, to the minimum access level. The control
plane looks every request up here and refuses to start when one of its routes
has no rule. ``docs/permissions.md`` is rendered from this table by running
``python -m concord.common.permissions``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Plane = Literal["control", "cluster"]
Level = Literal[
    "public",
    "cluster",
    "join",
    "user",
    "member",
    "annotator-of-feed",
    "reviewer",
    "manager",
    "admin",
]

LEVEL_DESCRIPTIONS: dict[Level, str] = {
    "public": "anyone, without credentials",
    "cluster": "a joined cluster, by its cluster secret",
    "join": "a cluster that holds a one-time join token (sent in the body)",
    "user": "any logged-in, active user",
    "member": "any member of the object's project, or an instance admin",
    "annotator-of-feed": "a reviewer or manager of the feed's project, an "
    "annotator listed as a member of that feed, or an instance admin",
    "reviewer": "a reviewer or manager of the object's project, or an instance admin",
    "manager": "a manager of the object's project, or an instance admin",
    "admin": "an instance admin",
}
# Levels that need the caller to be in the project of the object in the URL.
PROJECT_LEVELS: frozenset[Level] = frozenset(
    {"member", "annotator-of-feed", "reviewer", "manager"}
)
PROJECT_ROLES = ("annotator", "reviewer", "manager")
# The value of the access token's ``feeds`` claim that grants every feed.
ALL_FEEDS = "*"


@dataclass(frozen=True)
class Rule:
    """The minimum level that one route of one plane needs."""

    plane: Plane
    method: str
    path: str
    level: Level


class MissingPermission(LookupError):
    """Raised for a route that the permission table does not list."""


def _rules(plane: Plane, rows: Iterable[tuple[str, str, Level]]) -> list[Rule]:
    return [Rule(plane, method, path, level) for method, path, level in rows]


CONTROL_RULES = _rules(
    "control",
    [
        ("GET", "/api/health", "public"),
        ("GET", "/docs", "public"),
        ("GET", "/openapi.json", "public"),
        ("GET", "/static", "public"),
        ("GET", "/static-docs", "public"),
        ("POST", "/api/auth/login", "public"),
        ("POST", "/api/auth/logout", "user"),
        ("GET", "/api/me", "user"),
        ("PUT", "/api/me/password", "user"),
        ("GET", "/api/me/tokens", "user"),
        ("POST", "/api/me/tokens", "user"),
        ("DELETE", "/api/me/tokens/{token_id}", "user"),
        ("POST", "/api/users", "admin"),
        ("GET", "/api/users", "admin"),
        ("POST", "/api/users/{user_id}/deactivate", "admin"),
        ("POST", "/api/users/{user_id}/reactivate", "admin"),
        ("POST", "/api/projects", "admin"),
        ("GET", "/api/projects", "user"),
        ("GET", "/api/projects/{project_id}", "member"),
        ("PUT", "/api/projects/{project_id}/members", "manager"),
        ("GET", "/api/projects/{project_id}/members", "member"),
        ("POST", "/api/projects/{project_id}/invitations", "manager"),
        ("GET", "/api/projects/{project_id}/invitations", "manager"),
        (
            "DELETE",
            "/api/projects/{project_id}/invitations/{invitation_id}",
            "manager",
        ),
        ("POST", "/api/projects/{project_id}/cluster-token", "member"),
        ("GET", "/api/projects/{project_id}/datasets", "member"),
        ("GET", "/api/projects/{project_id}/feeds", "member"),
        ("GET", "/api/feeds/{feed_id}", "annotator-of-feed"),
        ("GET", "/api/feeds/{feed_id}/progress", "annotator-of-feed"),
        ("GET", "/api/feeds/{feed_id}/members", "reviewer"),
        ("PUT", "/api/feeds/{feed_id}/members", "manager"),
        ("DELETE", "/api/feeds/{feed_id}/members", "manager"),
        ("GET", "/api/agreement/{source_kind}/{source_id}", "reviewer"),
        ("GET", "/api/gold/{source_kind}/{source_id}", "reviewer"),
        ("GET", "/api/clusters", "admin"),
        ("POST", "/api/clusters/join", "join"),
        ("POST", "/api/clusters/join-tokens", "admin"),
        ("POST", "/api/events", "cluster"),
        ("GET", "/api/audit", "admin"),
        ("GET", "/login", "public"),
        ("POST", "/login", "public"),
        ("GET", "/login/oidc", "public"),
        ("GET", "/login/oidc/callback", "public"),
        ("POST", "/logout", "user"),
        ("GET", "/invite/{token}", "public"),
        ("POST", "/invite/{token}", "public"),
        ("GET", "/", "user"),
        ("GET", "/feeds/{feed_id}/open", "annotator-of-feed"),
        ("GET", "/admin/audit", "admin"),
    ],
)

CLUSTER_RULES = _rules(
    "cluster",
    [
        ("GET", "/api/health", "public"),
        ("GET", "/docs", "public"),
        ("GET", "/openapi.json", "public"),
        ("GET", "/static", "public"),
        ("GET", "/static-docs", "public"),
        ("POST", "/api/datasets", "manager"),
        ("GET", "/api/datasets", "member"),
        ("GET", "/api/datasets/{dataset_id}", "member"),
        ("POST", "/api/datasets/{dataset_id}/import", "manager"),
        ("GET", "/api/datasets/{dataset_id}/export", "manager"),
        ("POST", "/api/feeds", "manager"),
        ("GET", "/api/feeds", "member"),
        ("GET", "/api/feeds/{feed_id}", "annotator-of-feed"),
        ("PATCH", "/api/feeds/{feed_id}", "manager"),
        ("POST", "/api/feeds/{feed_id}/next", "annotator-of-feed"),
        ("POST", "/api/feeds/{feed_id}/skip", "annotator-of-feed"),
        ("POST", "/api/feeds/{feed_id}/heartbeat", "annotator-of-feed"),
        ("POST", "/api/feeds/{feed_id}/answers", "annotator-of-feed"),
        ("POST", "/api/feeds/{feed_id}/undo", "annotator-of-feed"),
        ("GET", "/api/feeds/{feed_id}/progress", "annotator-of-feed"),
        ("GET", "/api/feeds/{feed_id}/media/{task_hash}", "annotator-of-feed"),
        ("GET", "/api/feeds/{feed_id}/export", "manager"),
        ("POST", "/api/agreement", "reviewer"),
        ("GET", "/api/conflicts", "reviewer"),
        ("POST", "/api/gold", "reviewer"),
        ("GET", "/annotate/{feed_id}", "annotator-of-feed"),
        ("POST", "/auth/enter", "public"),
        ("POST", "/auth/logout", "public"),
    ],
)

RULES: tuple[Rule, ...] = (*CONTROL_RULES, *CLUSTER_RULES)
_BY_KEY = {(rule.plane, rule.method, rule.path): rule for rule in RULES}


def required_level(plane: Plane, method: str, path: str) -> Level:
    """Return the level a route needs; raise MissingPermission when unlisted.

    A HEAD request needs what the GET of the same path needs.
    """
    method = "GET" if method == "HEAD" else method
    rule = _BY_KEY.get((plane, method, path))
    if rule is None:
        raise MissingPermission(
            f"No permission rule for {method} {path} on the {plane} plane. "
            "Add one to concord/common/permissions.py and regenerate "
            "docs/permissions.md."
        )
    return rule.level


def rules_of(plane: Plane) -> list[Rule]:
    return [rule for rule in RULES if rule.plane == plane]


def role_meets(role: str, level: Level) -> bool:
    """Tell whether a project role reaches a role level (reviewer or manager)."""
    if level not in ("reviewer", "manager"):
        raise ValueError(f"level {level!r} is not a project role level")
    return PROJECT_ROLES.index(role) >= PROJECT_ROLES.index(level)


def render_markdown() -> str:
    """Render the table as the Markdown page ``docs/permissions.md``."""
    lines = [
        "# Permissions",
        "",
        "Generated from `concord/common/permissions.py` by",
        "`python -m concord.common.permissions > docs/permissions.md`; a test",
        "fails when this page and the table differ. The control plane looks",
        "every request up in that table, so edit the table, never this page.",
        "",
        "A caller outside the object's project gets 404, never 403, so ids",
        "reveal nothing. A member whose role is too low gets 403. An annotator",
        "who is not a member of a feed gets 404 for it.",
        "",
        "## Levels",
        "",
        "| level | who |",
        "| --- | --- |",
    ]
    lines += [f"| `{level}` | {text} |" for level, text in LEVEL_DESCRIPTIONS.items()]
    for plane in ("control", "cluster"):
        lines += ["", f"## {plane.capitalize()} plane", ""]
        lines += ["| method | path | level |", "| --- | --- | --- |"]
        lines += [
            f"| {rule.method} | `{rule.path}` | `{rule.level}` |"
            for rule in rules_of(plane)
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
