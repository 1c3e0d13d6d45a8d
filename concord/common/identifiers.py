"""Names and ids that may cross from the cluster to the control plane."""

from __future__ import annotations

import hashlib
import re

# Dataset and feed names chosen by a manager: a short slug.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# Ids as the event schema accepts them.
ID_PATTERN = re.compile(r"[A-Za-z0-9_.@:\-]{1,128}")


def safe_id(value: str) -> str:
    """Return ``value`` if it is a valid event id, else a stable hash of it.

    Annotator ids in imported files are arbitrary strings. A value that is not
    a plain id could hold free text, so only its hash crosses the boundary.
    """
    if ID_PATTERN.fullmatch(value):
        return value
    return "h-" + hashlib.blake2b(value.encode("utf-8"), digest_size=12).hexdigest()

# Label names and option ids: letters, digits and a few separators, no free text.
LABEL_PATTERN = re.compile(r"[\w.:/\-]{1,64}")
# The most label names one feed may declare to the control plane.
MAX_LABELS = 10_000


def safe_label(value: str) -> str:
    """Return ``value`` if it is a valid label name, else a stable hash of it.

    Option ids in imported tasks can be any string; one that is not a plain
    label name reaches the control plane only as its hash.
    """
    if LABEL_PATTERN.fullmatch(value):
        return value
    return "h-" + hashlib.blake2b(value.encode("utf-8"), digest_size=8).hexdigest()
