"""Scripted annotators: programs that answer tasks through the cluster's HTTP API.

The demo uses them to fill a feed with answers the way people would, through
the same routes the annotation page calls: ask for tasks, answer them. They
are not people, and what they answer follows a fixed rule.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from concord.cli.client import ClusterClient

logger = logging.getLogger(__name__)

Decide = Callable[[dict[str, Any]], str]

DOCS_WORDS = ("doc", "readme", "typo")
BATCH_SIZE = 10


def mentions_docs(task: dict[str, Any]) -> str:
    """Accept a task whose text mentions docs, a readme or a typo; reject the rest."""
    text = str(task.get("text", "")).lower()
    return "accept" if any(word in text for word in DOCS_WORDS) else "reject"


@dataclass
class AnnotatorTally:
    """What one scripted annotator answered."""

    username: str
    answers: int = 0
    accept: int = 0
    reject: int = 0
    ignore: int = 0

    def count(self, answer: str) -> None:
        self.answers += 1
        setattr(self, answer, getattr(self, answer) + 1)


@dataclass
class ScriptedAnnotator:
    """One annotator's session on one feed."""

    username: str
    cluster: ClusterClient
    feed_id: str
    decide: Decide = mentions_docs

    def answer_batch(self, limit: int) -> list[dict[str, Any]]:
        """Fetch up to ``limit`` tasks, answer each and return the answers stored."""
        served = self.cluster.next_tasks(self.feed_id, count=limit)
        tasks = served.get("tasks") or []
        answers = [
            {
                "answer_id": uuid.uuid4().hex,
                "task_hash": task["_task_hash"],
                "answer": self.decide(task),
            }
            for task in tasks[:limit]
        ]
        if not answers:
            return []
        result = self.cluster.submit_answers(self.feed_id, answers)
        stored = set(result.get("stored") or [])
        return [answer for answer in answers if answer["answer_id"] in stored]


def run_in_turns(
    annotators: Sequence[ScriptedAnnotator],
    tasks_each: int,
    batch_size: int = BATCH_SIZE,
) -> list[AnnotatorTally]:
    """Let the annotators take turns, a batch each, until each answered ``tasks_each``.

    Taking turns spreads the feed's overlap across annotators as live work
    would. An annotator stops early when the feed has nothing left for them.
    """
    tallies = {
        annotator.username: AnnotatorTally(annotator.username)
        for annotator in annotators
    }
    active = list(annotators)
    # Each turn answers at least one task or retires an annotator, so a working
    # cluster never reaches this bound. It only guards against an endless loop.
    for _turn in range(len(annotators) * (tasks_each + 1)):
        if not active:
            break
        annotator = active.pop(0)
        tally = tallies[annotator.username]
        remaining = tasks_each - tally.answers
        stored = annotator.answer_batch(min(batch_size, remaining))
        for answer in stored:
            tally.count(answer["answer"])
        if stored and tally.answers < tasks_each:
            active.append(annotator)
        elif not stored:
            logger.info(
                "feed %s has no more tasks for %s",
                annotator.feed_id,
                annotator.username,
            )
    return [tallies[annotator.username] for annotator in annotators]
