"""Feed membership: the annotators allowed to work on each feed.

Reviewers, managers and admins reach every feed of their projects. An
annotator reaches only the feeds a manager listed them on. The list goes to
the cluster in the ``feeds`` claim of their access tokens.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from concord.common.errors import InvalidInput, NotFound
from concord.common.permissions import ALL_FEEDS
from concord.control import audit
from concord.control.auth import ProjectAccess, SessionDep
from concord.control.authorization import Grant, GrantDep
from concord.control.models import Feed, FeedMember, Membership, User
from concord.control.schemas import FeedMembersIn, FeedMembersOut
from concord.control.users import find_user

logger = logging.getLogger(__name__)


def feed_usernames(session: Session, feed_id: str) -> list[str]:
    query = (
        select(User.username)
        .join(FeedMember, FeedMember.user_id == User.id)
        .where(FeedMember.feed_id == feed_id)
        .order_by(User.username)
    )
    return list(session.scalars(query))


def _project_members(
    session: Session, access: ProjectAccess, usernames: list[str]
) -> list[User]:
    """Return the users named, all of whom must be members of the project."""
    users = []
    for username in dict.fromkeys(usernames):
        user = find_user(session, username)
        if user is None:
            raise NotFound(
                f"User '{username}' not found. Check the spelling; nothing was "
                "changed.",
                details={"username": username},
            )
        if session.get(Membership, (access.project.id, user.id)) is None:
            raise InvalidInput(
                f"User '{username}' is not a member of project "
                f"'{access.project.name}'. Add them with PUT "
                f"/api/projects/{access.project.id}/members first; nothing was "
                "changed.",
                details={"username": username},
            )
        users.append(user)
    return users


def add_feed_members(
    session: Session, access: ProjectAccess, feed: Feed, usernames: list[str]
) -> list[User]:
    """List project members on a feed; already listed ones stay as they are."""
    users = _project_members(session, access, usernames)
    added = [
        user for user in users if session.get(FeedMember, (feed.id, user.id)) is None
    ]
    session.add_all(FeedMember(feed_id=feed.id, user_id=user.id) for user in added)
    return added


def remove_feed_members(
    session: Session, feed: Feed, usernames: list[str]
) -> list[User]:
    """Take users off a feed; names not on it are ignored."""
    users = [user for name in usernames if (user := find_user(session, name))]
    ids = [user.id for user in users]
    session.execute(
        delete(FeedMember).where(
            FeedMember.feed_id == feed.id, FeedMember.user_id.in_(ids)
        )
    )
    return users


def feed_claim(session: Session, access: ProjectAccess) -> list[str]:
    """Return the ``feeds`` claim of an access token: ``["*"]`` for users who
    reach every feed, else the ids of the feeds the annotator is listed on."""
    if access.sees_all_feeds:
        return [ALL_FEEDS]
    query = (
        select(FeedMember.feed_id)
        .join(Feed, Feed.id == FeedMember.feed_id)
        .where(
            FeedMember.user_id == access.user.id,
            Feed.project_id == access.project.id,
        )
        .order_by(FeedMember.feed_id)
    )
    return list(session.scalars(query))


router = APIRouter(prefix="/api/feeds", tags=["datasets and feeds"])


def _changed(
    request: Request,
    session: Session,
    grant: Grant,
    action: str,
    users: list[User],
) -> FeedMembersOut:
    assert grant.feed is not None
    if users:
        audit.record(
            session,
            action,
            actor=grant.caller,
            object_type="feed",
            object_id=grant.feed.id,
            project_id=grant.feed.project_id,
            address=audit.client_address(request),
            details={"user_ids": [user.id for user in users]},
        )
    session.commit()
    logger.info("%s on feed %s: %d users", action, grant.feed.id, len(users))
    return FeedMembersOut(
        feed_id=grant.feed.id, usernames=feed_usernames(session, grant.feed.id)
    )


@router.get("/{feed_id}/members")
def members(feed_id: str, grant: GrantDep, session: SessionDep) -> FeedMembersOut:
    """List the annotators who may work on the feed."""
    return FeedMembersOut(feed_id=feed_id, usernames=feed_usernames(session, feed_id))


@router.put("/{feed_id}/members")
def put_members(
    feed_id: str,
    body: FeedMembersIn,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
) -> FeedMembersOut:
    """Let project members annotate the feed (managers); returns the full list."""
    assert grant.feed is not None
    added = add_feed_members(session, grant.project, grant.feed, body.usernames)
    return _changed(request, session, grant, "feed_members.added", added)


@router.delete("/{feed_id}/members")
def delete_members(
    feed_id: str,
    body: FeedMembersIn,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
) -> FeedMembersOut:
    """Take users off the feed (managers); returns the remaining list."""
    assert grant.feed is not None
    removed = remove_feed_members(session, grant.feed, body.usernames)
    return _changed(request, session, grant, "feed_members.removed", removed)
