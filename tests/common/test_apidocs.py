from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from concord.common.apidocs import SWAGGER_DIR, mount_api_docs


def test_docs_page_uses_vendored_assets() -> None:
    app = FastAPI(title="Demo", docs_url=None, redoc_url=None)
    mount_api_docs(app)

    with TestClient(app) as client:
        page = client.get("/docs")
        script = client.get("/static-docs/swagger-ui-bundle.js")
        style = client.get("/static-docs/swagger-ui.css")

    assert page.status_code == 200
    assert re.findall(r"""(?:src|href)=["'](https?://[^"']*)""", page.text) == []
    assert "'/openapi.json'" in page.text
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.text
    assert style.status_code == 200


def test_license_shipped_with_assets() -> None:
    assert "Apache License" in (SWAGGER_DIR / "LICENSE.txt").read_text()


def test_refuses_app_with_cdn_docs() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        mount_api_docs(FastAPI())
