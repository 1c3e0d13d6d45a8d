"""Password hashing and the random secrets the control plane hands out.

Passwords are hashed with Argon2id. API tokens, cluster secrets, join tokens
and session ids are random strings of which only the SHA-256 is stored, so a
copy of the database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_TOKEN_PREFIX = "cct_"
CLUSTER_SECRET_PREFIX = "ccs_"
JOIN_TOKEN_PREFIX = "cjt_"
# 32 random bytes, encoded in 43 URL-safe characters.
SECRET_BYTES = 32


class Passwords:
    """Argon2id hashing with a decoy hash, so unknown usernames take as long to
    reject as wrong passwords."""

    def __init__(self, fast: bool = False) -> None:
        if fast:
            # Minimal costs, for test suites only.
            self.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        else:
            self.hasher = PasswordHasher()
        self._decoy_hash = self.hasher.hash(new_secret())

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_decoy(self, password: str) -> bool:
        """Spend the time of a real check, then return False."""
        self.verify(self._decoy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secrets_equal(left: str, right: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))
