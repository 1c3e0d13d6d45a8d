"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The real data sets live in a shared/ folder beside the repository clone,
# on developer machines and in CI alike.
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real data sets; CONCORD_SHARED_DATA overrides it."""
    override = os.environ.get("CONCORD_SHARED_DATA")
    folder = Path(override) if override else DEFAULT_SHARED_DATA
    if not folder.is_dir():
        pytest.fail(
            f"Shared data folder {folder} not found. Put a copy of shared/ beside "
            "the repository, or set CONCORD_SHARED_DATA to its data folder."
        )
    return folder
