"""What the cluster knows about itself and its control plane, kept in ``cluster_state``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.cluster.models import ClusterState

KEYS = ("cluster_id", "cluster_secret", "public_key", "issuer")


@dataclass(frozen=True)
class Membership:
    """The credentials a cluster received when it joined a control plane."""

    cluster_id: str
    cluster_secret: str
    public_key: str
    issuer: str

    def __repr__(self) -> str:
        return f"Membership(cluster_id={self.cluster_id!r}, issuer={self.issuer!r})"


def load_membership(session: Session) -> Membership | None:
    rows = session.scalars(select(ClusterState).where(ClusterState.key.in_(KEYS)))
    values = {row.key: row.value for row in rows}
    if any(key not in values for key in KEYS):
        return None
    return Membership(**{key: values[key] for key in KEYS})


def save_membership(session: Session, membership: Membership) -> None:
    for key in KEYS:
        session.merge(ClusterState(key=key, value=getattr(membership, key)))
