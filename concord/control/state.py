"""Typed access to what the app's lifespan puts on ``app.state``.

These functions double as FastAPI dependencies.
"""

from __future__ import annotations

from fastapi import Request

from concord.control.security import Passwords
from concord.control.settings import ControlSettings
from concord.control.signing import TokenSigner


def get_settings(request: Request) -> ControlSettings:
    return request.app.state.settings


def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords


def get_signer(request: Request) -> TokenSigner:
    return request.app.state.signer
