"""A real OpenID provider on 127.0.0.1 for tests: oidc-provider-mock.

The provider is a Flask app built on Authlib's server side. It signs ID
tokens with its own RSA key, publishes them at its JWKS endpoint, and shows
an authorization form where the test submits the subject.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import oidc_provider_mock
from werkzeug.serving import make_server


@dataclass(frozen=True)
class Provider:
    issuer: str

    def set_user(self, subject: str, claims: dict[str, object]) -> None:
        """Store the claims the provider puts in this subject's ID tokens."""
        response = httpx.put(f"{self.issuer}/users/{subject}", json=claims)
        assert response.status_code == 204, response.text


@contextmanager
def running_provider(
    token_lifetime: timedelta = timedelta(hours=1),
) -> Iterator[Provider]:
    """Serve a provider on a free port of 127.0.0.1 until the block ends."""
    # The provider's Authlib server rejects plain HTTP without this variable.
    previous = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    app = oidc_provider_mock.app(
        require_nonce=True, access_token_max_age=token_lifetime
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}
    )
    thread.start()
    try:
        yield Provider(issuer=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        if previous is None:
            os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = previous
