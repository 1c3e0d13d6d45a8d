"""The objects one running cluster shares between its routes and background work."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from concord.cluster.database import Database
from concord.cluster.settings import ClusterSettings
from concord.cluster.state import Membership
from concord.cluster.tokenization import Tokenizer


@dataclass
class ClusterContext:
    settings: ClusterSettings
    db: Database
    tokenizer: Tokenizer
    membership: Membership | None = None
    # Set after a commit that wrote outbox rows, so the sender wakes at once.
    outbox_ready: threading.Event = field(default_factory=threading.Event)


def get_context(request: Request) -> ClusterContext:
    return request.app.state.context
