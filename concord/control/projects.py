"""Projects, their members, and the access tokens members take to the cluster."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.common.errors import Conflict, InvalidInput, NotFound
from concord.control import audit
from concord.control.auth import ADMIN_ROLE, ProjectAccess, SessionDep
from concord.control.authorization import GrantDep
from concord.control.clusters import list_clusters
from concord.control.feed_members import feed_claim
from concord.control.models import Cluster, Membership, Project, User
from concord.control.schemas import (
    ClusterTokenOut,
    MemberIn,
    MemberOut,
    ProjectCreate,
    ProjectOut,
)
from concord.control.settings import ControlSettings
from concord.control.signing import TokenSigner, issue_access_token
from concord.control.state import get_settings, get_signer
from concord.control.users import find_user

logger = logging.getLogger(__name__)


def create_project(session: Session, name: str, cluster_id: str | None) -> Project:
    """Store a project on a cluster; the only joined cluster is the default."""
    cluster = _choose_cluster(session, cluster_id)
    if session.scalars(select(Project).where(Project.name == name)).first():
        raise _name_taken(name)
    project = Project(name=name, cluster_id=cluster.id)
    session.add(project)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise _name_taken(name) from None
    logger.info("created project %s on cluster %s", project.id, cluster.id)
    return project


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"A project named '{name}' already exists. Choose another name.",
        details={"name": name},
    )


def _choose_cluster(session: Session, cluster_id: str | None) -> Cluster:
    if cluster_id is not None:
        cluster = session.get(Cluster, cluster_id)
        if cluster is None:
            raise InvalidInput(
                f"Cluster '{cluster_id}' has not joined this control plane. "
                "List the joined clusters with GET /api/clusters.",
                details={"cluster_id": cluster_id},
            )
        return cluster
    clusters = list_clusters(session)
    if len(clusters) == 1:
        return clusters[0]
    if not clusters:
        raise InvalidInput(
            "No cluster has joined yet, so the project has nowhere to keep its "
            "data. Join a cluster first (POST /api/clusters/join).",
        )
    choices = {cluster.id: cluster.name for cluster in clusters}
    raise InvalidInput(
        f"{len(clusters)} clusters have joined; choose one with 'cluster_id': "
        + ", ".join(f"{id_} ({name})" for id_, name in choices.items()),
        details={"field": "cluster_id", "choices": choices},
    )


def visible_projects(session: Session, user: User) -> list[ProjectAccess]:
    """Return the projects ``user`` belongs to, or every project for an admin."""
    roles = {
        member.project_id: member.role
        for member in session.scalars(
            select(Membership).where(Membership.user_id == user.id)
        )
    }
    query = select(Project).order_by(Project.name)
    if not user.is_admin:
        query = query.where(Project.id.in_(roles))
    return [
        ProjectAccess(
            project,
            user,
            roles.get(project.id, ADMIN_ROLE),
            is_member=project.id in roles,
        )
        for project in session.scalars(query)
    ]


def project_out(session: Session, access: ProjectAccess) -> ProjectOut:
    project = access.project
    cluster = session.get(Cluster, project.cluster_id)
    assert cluster is not None, "projects.cluster_id is a foreign key"
    return ProjectOut(
        id=project.id,
        name=project.name,
        cluster_id=cluster.id,
        cluster_url=cluster.url,
        role=access.role,
        created_at=project.created_at,
    )


def set_member(
    session: Session, access: ProjectAccess, username: str, role: str
) -> tuple[MemberOut, str | None]:
    """Add a user to the project or change their role; return the member and
    their previous role (None for a new member). The caller commits."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(
            f"User '{username}' not found. "
            "An admin creates users with POST /api/users.",
            details={"username": username},
        )
    membership = session.get(Membership, (access.project.id, user.id))
    previous = membership.role if membership is not None else None
    if membership is None:
        membership = Membership(
            project_id=access.project.id, user_id=user.id, role=role
        )
        session.add(membership)
    else:
        membership.role = role
    logger.info("user %s is now %s in project %s", user.id, role, access.project.id)
    return MemberOut(user_id=user.id, username=user.username, role=role), previous


def list_members(session: Session, project_id: str) -> list[MemberOut]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(User.username)
    )
    return [
        MemberOut(user_id=user.id, username=user.username, role=membership.role)
        for membership, user in rows
    ]


def issue_project_token(
    session: Session,
    signer: TokenSigner,
    settings: ControlSettings,
    access: ProjectAccess,
) -> ClusterTokenOut:
    """Sign an access token for the caller's role in the project's cluster."""
    cluster = session.get(Cluster, access.project.cluster_id)
    assert cluster is not None, "projects.cluster_id is a foreign key"
    token = issue_access_token(
        signer,
        cluster_id=cluster.id,
        user_id=access.user.id,
        username=access.user.username,
        project_id=access.project.id,
        role=access.role,
        feeds=feed_claim(session, access),
        seconds=settings.access_token_seconds,
    )
    return ClusterTokenOut(
        token=token.token,
        cluster_url=cluster.url,
        cluster_id=cluster.id,
        role=access.role,
        expires_at=token.expires_at,
    )


router = APIRouter(prefix="/api/projects", tags=["projects"])
SignerDep = Annotated[TokenSigner, Depends(get_signer)]
SettingsDep = Annotated[ControlSettings, Depends(get_settings)]


@router.post("", status_code=201)
def add_project(
    body: ProjectCreate, request: Request, grant: GrantDep, session: SessionDep
) -> ProjectOut:
    """Create a project (admins only)."""
    project = create_project(session, body.name, body.cluster_id)
    audit.record(
        session,
        "project.created",
        actor=grant.caller,
        object_type="project",
        object_id=project.id,
        project_id=project.id,
        address=audit.client_address(request),
        details={"name": project.name, "cluster_id": project.cluster_id},
    )
    session.commit()
    access = ProjectAccess(project, grant.caller, ADMIN_ROLE, is_member=False)
    return project_out(session, access)


@router.get("")
def projects(grant: GrantDep, session: SessionDep) -> list[ProjectOut]:
    """List the caller's projects (every project for an admin)."""
    return [
        project_out(session, access)
        for access in visible_projects(session, grant.caller)
    ]


@router.get("/{project_id}")
def project(project_id: str, grant: GrantDep, session: SessionDep) -> ProjectOut:
    return project_out(session, grant.project)


@router.put("/{project_id}/members")
def put_member(
    project_id: str,
    body: MemberIn,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
) -> MemberOut:
    """Add a member or change a member's role (admins and project managers)."""
    member, previous = set_member(session, grant.project, body.username, body.role)
    audit.record(
        session,
        "member.added" if previous is None else "member.role_changed",
        actor=grant.caller,
        object_type="user",
        object_id=member.user_id,
        project_id=project_id,
        address=audit.client_address(request),
        details={"role": member.role, "previous_role": previous},
    )
    session.commit()
    return member


@router.get("/{project_id}/members")
def members(project_id: str, grant: GrantDep, session: SessionDep) -> list[MemberOut]:
    return list_members(session, grant.project.project.id)


@router.post("/{project_id}/cluster-token")
def cluster_token(
    project_id: str,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    signer: SignerDep,
    settings: SettingsDep,
) -> ClusterTokenOut:
    """Sign a short-lived access token for this project's cluster."""
    token = issue_project_token(session, signer, settings, grant.project)
    record_token_grant(session, grant.project, audit.client_address(request), "api")
    session.commit()
    return token


def record_token_grant(
    session: Session, access: ProjectAccess, address: str, via: str
) -> None:
    """Audit that an access token for the cluster was signed for a user."""
    audit.record(
        session,
        "cluster_token.issued",
        actor=access.user,
        object_type="project",
        object_id=access.project.id,
        project_id=access.project.id,
        address=address,
        details={
            "role": access.role,
            "cluster_id": access.project.cluster_id,
            "via": via,
        },
    )
