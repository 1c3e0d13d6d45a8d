"""The events a cluster reports to the control plane, and nothing else.

These models are the privacy boundary in code: every field is an id, a hash,
an enum, a label name, a number or a timestamp. No field can carry example
text, tokens or span text, and unknown fields are rejected
(``extra="forbid"``). Label names are further checked by the control plane
against the label set the feed declared.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

# Ids are opaque tokens: uuids for Concord's own objects, and the annotator ids
# found in imported files (uuids or short names such as "news-alice").
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@:\-]{1,128}$")]
# A name chosen by a manager for a dataset or a feed: a short slug.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
# A label or option id: letters, digits and a few separators, no free text.
Label = Annotated[str, Field(pattern=r"^[\w.:/\-]{1,64}$")]
Hash = Annotated[int, Field(ge=-(2**63), lt=2**63)]
Answer = Literal["accept", "reject", "ignore"]
Interface = Literal[
    "binary",
    "choice",
    "ner_manual",
    "spans_manual",
    "text_input",
    "image_manual",
    "review",
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Id
    cluster_id: Id
    project_id: Id
    created_at: datetime


class DatasetCreated(_Event):
    kind: Literal["dataset.created"] = "dataset.created"
    dataset_id: Id
    name: Name
    role: Literal["source", "gold"]


class DatasetImported(_Event):
    kind: Literal["dataset.imported"] = "dataset.imported"
    dataset_id: Id
    examples_added: int = Field(ge=0)
    annotations_added: int = Field(ge=0)
    examples_total: int = Field(ge=0)
    annotators: list[Id] = Field(max_length=10_000)


class FeedCreated(_Event):
    kind: Literal["feed.created"] = "feed.created"
    feed_id: Id
    dataset_id: Id
    name: Name
    interface: Interface
    labels: list[Label] = Field(max_length=10_000)
    multiple: bool
    overlap: int = Field(ge=1, le=1_000)
    lease_seconds: int = Field(ge=1)
    examples_total: int = Field(ge=0)
    # The user who created the feed; absent when the cluster re-announces it.
    actor_id: Id | None = None


class ExportStarted(_Event):
    """A user started an export on the cluster; the control plane audits it."""

    kind: Literal["export.started"] = "export.started"
    source_kind: Literal["feed", "dataset"]
    source_id: Id
    actor_id: Id


class AnswerCreated(_Event):
    kind: Literal["answer.created"] = "answer.created"
    feed_id: Id
    annotation_id: Id
    annotator_id: Id
    input_hash: Hash
    task_hash: Hash
    answer: Answer
    labels: list[Label] = Field(max_length=10_000)


class AnswerUndone(_Event):
    kind: Literal["answer.undone"] = "answer.undone"
    feed_id: Id
    annotation_id: Id
    annotator_id: Id


class AnnotatorAgreement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    annotator_id: Id
    items: int = Field(ge=0)
    percent_agreement: float | None
    cohen_kappa: float | None


class AgreementComputed(_Event):
    kind: Literal["agreement.computed"] = "agreement.computed"
    source_kind: Literal["feed", "dataset"]
    source_id: Id
    items: int = Field(ge=0)
    items_excluded: int = Field(ge=0)
    annotators: int = Field(ge=0)
    ratings: int = Field(ge=0)
    percent_agreement: float | None
    krippendorff_alpha: float | None
    cohen_kappa: float | None
    per_annotator: list[AnnotatorAgreement] = Field(max_length=10_000)


class GoldBuilt(_Event):
    kind: Literal["gold.built"] = "gold.built"
    source_kind: Literal["feed", "dataset"]
    source_id: Id
    gold_dataset_id: Id
    min_agreement: float = Field(ge=0, le=1)
    items: int = Field(ge=0)
    gold_items: int = Field(ge=0)
    conflicts: int = Field(ge=0)


Event = Annotated[
    Union[
        DatasetCreated,
        DatasetImported,
        FeedCreated,
        ExportStarted,
        AnswerCreated,
        AnswerUndone,
        AgreementComputed,
        GoldBuilt,
    ],
    Field(discriminator="kind"),
]


class EventBatch(BaseModel):
    """The body of ``POST /api/events`` on the control plane."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(max_length=1_000)
