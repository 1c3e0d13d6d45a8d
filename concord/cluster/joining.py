"""Joining a control plane once, with a one-time join token.

The control plane answers with this cluster's id, a secret for sending events,
and the Ed25519 public key that access tokens are checked with. They are kept in
``cluster_state``, so a restarted cluster needs no new token.
"""

from __future__ import annotations

import logging
import random
import threading

import httpx

from concord.cluster.context import ClusterContext
from concord.cluster.state import Membership, load_membership, save_membership

logger = logging.getLogger(__name__)


class JoinRejected(Exception):
    """The control plane refused the join token; retrying will not help."""


def load_existing(context: ClusterContext) -> Membership | None:
    with context.db.sessions() as session:
        return load_membership(session)


def join_once(context: ClusterContext, client: httpx.Client) -> Membership:
    settings = context.settings
    if settings.join_token is None:
        raise JoinRejected(
            "no join token: set CONCORD_JOIN_TOKEN to a token from the control plane"
        )
    response = client.post(
        f"{settings.control_url.rstrip('/')}/api/clusters/join",
        json={
            "join_token": settings.join_token.get_secret_value(),
            "name": settings.name,
            "url": settings.resolved_public_url,
        },
    )
    if response.status_code in (400, 401, 403, 404, 422):
        raise JoinRejected(f"control plane refused the join ({response.status_code})")
    response.raise_for_status()
    body = response.json()
    membership = Membership(
        cluster_id=body["cluster_id"],
        cluster_secret=body["cluster_secret"],
        public_key=body["public_key"],
        issuer=body["issuer"],
    )
    with context.db.transaction() as session:
        save_membership(session, membership)
    return membership


class Joiner(threading.Thread):
    """Retry ``join_once`` with backoff until it succeeds, is refused or stops."""

    def __init__(self, context: ClusterContext, max_backoff: float = 10.0) -> None:
        super().__init__(name="concord-join", daemon=True)
        self.context = context
        self.max_backoff = max_backoff
        self._stopping = threading.Event()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.join(timeout)

    def run(self) -> None:
        attempt = 0
        with httpx.Client(timeout=10.0) as client:
            while not self._stopping.is_set():
                attempt += 1
                try:
                    self.context.membership = join_once(self.context, client)
                except JoinRejected as exc:
                    logger.error("cannot join the control plane: %s", exc)
                    return
                except httpx.HTTPError as exc:
                    delay = min(self.max_backoff, 0.25 * 2**attempt)
                    delay *= random.uniform(0.5, 1.0)
                    if attempt == 1 or attempt % 10 == 0:
                        logger.warning(
                            "control plane not reachable (attempt %d), retry in "
                            "%.1f s: %s",
                            attempt,
                            delay,
                            type(exc).__name__,
                        )
                    self._stopping.wait(delay)
                    continue
                logger.info(
                    "joined the control plane as cluster %s",
                    self.context.membership.cluster_id,
                )
                self.context.outbox_ready.set()
                return
