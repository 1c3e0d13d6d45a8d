"""Random sequences of annotator actions against a small model of docs/routing.md.

The machine drives the real cluster app over HTTP and keeps its own record of
answers, live leases, skips and the overlap. After every step the database
must hold exactly the model's answers and leases, and the bounds of rules 1,
2, 7 and 12 must hold.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update

from concord.cluster.datasets import utcnow
from concord.cluster import slots
from concord.cluster.models import Annotation, Example, Feed, Lease
from concord.cluster.routing import partial_bucket
from tests.cluster.conftest import Signer

USERS = [f"ann-{i}" for i in range(5)]
MODES = st.sampled_from(["number", "full", "partial"])


class RoutingMachine(RuleBasedStateMachine):
    """One feed, a handful of annotators and every routing action they can take."""

    # Set by the test function, which owns the app and its client.
    client: TestClient
    app: FastAPI
    signer: Signer

    def __init__(self) -> None:
        super().__init__()
        self.hashes: list[int] = []
        self.answers: dict[int, set[str]] = {}
        self.history: dict[str, list[int]] = {user: [] for user in USERS}
        self.leases: dict[str, dict[int, None]] = {user: {} for user in USERS}
        self.skips: set[tuple[str, int]] = set()
        self.bound: dict[int, float] = {}
        self.mode = "number"
        self.overlap = 1
        self.fraction = 0.0
        self.quota: int | None = None

    # The model ---------------------------------------------------------------

    def overlap_of(self, task_hash: int) -> float:
        if self.mode == "full":
            return math.inf
        if self.mode == "partial":
            chosen = partial_bucket(task_hash) < round(self.fraction * 10_000)
            return self.overlap if chosen else 1
        return self.overlap

    def taken(self, task_hash: int) -> int:
        leased = sum(task_hash in held for held in self.leases.values())
        return len(self.answers[task_hash]) + leased

    def is_open(self, user: str, task_hash: int) -> bool:
        return (
            user not in self.answers[task_hash]
            and task_hash not in self.leases[user]
            and (user, task_hash) not in self.skips
            and self.taken(task_hash) < self.overlap_of(task_hash)
        )

    def expected_reason(self, user: str) -> str:
        if self.quota is not None and len(self.history[user]) >= self.quota:
            return "quota"
        for task_hash in self.hashes:
            if (
                user not in self.answers[task_hash]
                and (user, task_hash) not in self.skips
                and len(self.answers[task_hash]) < self.overlap_of(task_hash)
            ):
                return "leased-by-others"
        return "done"

    def headers(self, user: str) -> dict[str, str]:
        return self.signer.headers(role="annotator", user=user)

    # Setup -------------------------------------------------------------------

    @initialize(
        examples=st.integers(1, 6),
        overlap=st.integers(1, 3),
        mode=MODES,
        fraction=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
        quota=st.sampled_from([None, 1, 3]),
    )
    def create_feed(
        self, examples: int, overlap: int, mode: str, fraction: float, quota: int | None
    ) -> None:
        if mode == "partial":
            overlap = max(overlap, 2)
        self.mode, self.overlap, self.fraction = mode, overlap, fraction
        self.quota = quota
        manager = self.signer.headers()
        dataset = self.client.post(
            "/api/datasets", json={"name": "d-" + uuid.uuid4().hex[:12]}, headers=manager
        ).json()
        body = b"".join(
            orjson.dumps({"text": f"example {i}"}) + b"\n" for i in range(examples)
        )
        self.client.post(f"/api/datasets/{dataset['id']}/import", content=body, headers=manager)
        spec = {
            "dataset_id": dataset["id"],
            "name": "f-" + uuid.uuid4().hex[:12],
            "interface": "binary",
            "label": "DOC",
            "overlap": overlap,
            "overlap_mode": mode,
            "quota": quota,
        }
        if mode == "partial":
            spec["partial_fraction"] = fraction
        response = self.client.post("/api/feeds", json=spec, headers=manager)
        assert response.status_code == 201, response.text
        self.feed_id = response.json()["id"]
        self.dataset_id = dataset["id"]
        with self.app.state.context.db.sessions() as session:
            self.hashes = list(
                session.scalars(
                    select(Example.task_hash)
                    .where(Example.dataset_id == dataset["id"])
                    .order_by(Example.position)
                )
            )
        self.answers = {task_hash: set() for task_hash in self.hashes}
        self.bound = {task_hash: self.overlap_of(task_hash) for task_hash in self.hashes}

    # Actions -----------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), count=st.integers(1, 4))
    def ask_for_tasks(self, user: str, count: int) -> None:
        """A user joins or keeps working: rules 1, 2, 3, 17 and 19."""
        held = list(self.leases[user])
        open_before = [h for h in self.hashes if self.is_open(user, h)]
        response = self.client.post(
            f"/api/feeds/{self.feed_id}/next", json={"count": count}, headers=self.headers(user)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        got = [task["_task_hash"] for task in body["tasks"]]
        assert len(set(got)) == len(got)
        kept = min(count, len(held))
        assert set(got[:kept]) <= set(held)
        if count >= len(held):
            assert set(got[: len(held)]) == set(held)
        new = got[kept:]
        room = count - kept
        if self.quota is not None:
            room = min(room, self.quota - len(self.history[user]) - len(held))
        assert len(new) == max(0, min(room, len(open_before)))
        for task_hash in new:
            assert task_hash in open_before
            self.leases[user][task_hash] = None
            assert self.taken(task_hash) <= self.overlap_of(task_hash)
        if got:
            assert body["reason"] is None
        else:
            assert body["reason"] == self.expected_reason(user)

    @precondition(lambda self: any(self.leases.values()))
    @rule(data=st.data(), value=st.sampled_from(["accept", "reject", "ignore"]))
    def answer(self, data: st.DataObject, value: str) -> None:
        user = data.draw(st.sampled_from([u for u in USERS if self.leases[u]]))
        task_hash = data.draw(st.sampled_from(list(self.leases[user])))
        stored = self.submit(user, task_hash, value)
        assert stored
        del self.leases[user][task_hash]
        self.answers[task_hash].add(user)
        self.history[user].append(task_hash)

    @precondition(lambda self: any(self.history.values()))
    @rule(data=st.data())
    def answer_again(self, data: st.DataObject) -> None:
        """A retry or a second answer to an answered task stores nothing (rule 20)."""
        user = data.draw(st.sampled_from([u for u in USERS if self.history[u]]))
        task_hash = data.draw(st.sampled_from(self.history[user]))
        assert not self.submit(user, task_hash, "accept")

    def submit(self, user: str, task_hash: int, value: str) -> bool:
        answer = {"answer_id": uuid.uuid4().hex, "task_hash": task_hash, "answer": value}
        response = self.client.post(
            f"/api/feeds/{self.feed_id}/answers",
            json={"answers": [answer]},
            headers=self.headers(user),
        )
        assert response.status_code == 200, response.text
        return response.json()["stored"] == [answer["answer_id"]]

    @rule(user=st.sampled_from(USERS))
    def leave_and_expire(self, user: str) -> None:
        """The user walks away and their leases run out (rule 9)."""
        past = utcnow() - timedelta(seconds=1)
        with self.app.state.context.db.transaction() as session:
            session.execute(
                update(Lease)
                .where(Lease.feed_id == self.feed_id, Lease.annotator_id == user)
                .values(expires_at=past)
            )
        self.leases[user].clear()

    @rule(user=st.sampled_from(USERS))
    def undo(self, user: str) -> None:
        """Rule 13: the latest answer goes and its example is leased back."""
        response = self.client.post(f"/api/feeds/{self.feed_id}/undo", headers=self.headers(user))
        assert response.status_code == 200, response.text
        undone = response.json()["undone"]
        if not self.history[user]:
            assert undone is None
            return
        task_hash = self.history[user].pop()
        assert undone["task_hash"] == task_hash
        self.answers[task_hash].discard(user)
        self.leases[user][task_hash] = None

    @rule(user=st.sampled_from(USERS), data=st.data())
    def skip(self, user: str, data: st.DataObject) -> None:
        """Rule 12: a skip frees the slot and hides the example from the skipper."""
        task_hash = data.draw(st.sampled_from(self.hashes))
        response = self.client.post(
            f"/api/feeds/{self.feed_id}/skip",
            json={"task_hash": task_hash},
            headers=self.headers(user),
        )
        if user in self.answers[task_hash]:
            assert response.status_code == 409, response.text
            return
        assert response.status_code == 200, response.text
        self.leases[user].pop(task_hash, None)
        self.skips.add((user, task_hash))

    @rule(overlap=st.integers(1, 3), mode=MODES, fraction=st.sampled_from([0.0, 0.5, 1.0]))
    def change_overlap(self, overlap: int, mode: str, fraction: float) -> None:
        """Rule 7: the new overlap applies from the next claim; leases out stay."""
        if mode == "partial":
            overlap = max(overlap, 2)
        change: dict[str, object] = {"overlap": overlap, "overlap_mode": mode}
        if mode == "partial":
            change["partial_fraction"] = fraction
        response = self.client.patch(
            f"/api/feeds/{self.feed_id}", json=change, headers=self.signer.headers()
        )
        assert response.status_code == 200, response.text
        self.mode, self.overlap, self.fraction = mode, overlap, fraction
        for task_hash in self.hashes:
            self.bound[task_hash] = max(self.overlap_of(task_hash), self.taken(task_hash))

    # Checks after every step ------------------------------------------------

    @invariant()
    def database_matches_model(self) -> None:
        if not self.hashes:
            return
        now = utcnow()
        with self.app.state.context.db.sessions() as session:
            answered = session.execute(
                select(Example.task_hash, Annotation.annotator_id)
                .join(Example, Example.id == Annotation.example_id)
                .where(Annotation.feed_id == self.feed_id)
            ).all()
            leased = session.execute(
                select(Example.task_hash, Lease.annotator_id)
                .join(Example, Example.id == Lease.example_id)
                .where(Lease.feed_id == self.feed_id, Lease.expires_at > now)
            ).all()
            # The claim counters agree with the answer and lease tables.
            feed = session.get(Feed, self.feed_id)
            assert feed is not None
            assert slots.drift(session, self.feed_id) == []
            assert slots.missing_slots(session, feed) == 0
        # Nobody answered an example twice in the feed.
        assert len(answered) == len(set(answered))
        assert {(h, u) for h, u in answered} == {
            (h, u) for h, users in self.answers.items() for u in users
        }
        assert {(h, u) for h, u in leased} == {
            (h, u) for u, held in self.leases.items() for h in held
        }
        for task_hash in self.hashes:
            assert self.taken(task_hash) <= self.bound[task_hash]


def test_routing_follows_the_model(cluster_app: FastAPI, cluster: TestClient, signer: Signer) -> None:
    RoutingMachine.client = cluster
    RoutingMachine.app = cluster_app
    RoutingMachine.signer = signer
    run_state_machine_as_test(
        RoutingMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
