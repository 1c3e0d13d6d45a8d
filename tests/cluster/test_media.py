"""The media route: task images from data URIs or the media folder, nothing else."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.cluster.conftest import ImportFn, Signer
from tests.cluster.pictures import data_uri, png_bytes

PNG = png_bytes(40, 30)


def image_feed(cluster: TestClient, signer: Signer, import_jsonl: ImportFn, images: list[str]) -> tuple[str, list[int]]:
    body = b"".join(orjson.dumps({"image": image}) + b"\n" for image in images)
    dataset = import_jsonl("pictures", body)
    spec = {"dataset_id": dataset["id"], "name": "boxes", "interface": "image_manual",
            "labels": ["CAT"]}
    created = cluster.post("/api/feeds", json=spec, headers=signer.headers())
    assert created.status_code == 201, created.text
    exported = cluster.get(f"/api/datasets/{dataset['id']}/export", headers=signer.headers())
    hashes = [orjson.loads(line)["_task_hash"] for line in exported.content.splitlines()]
    return created.json()["id"], hashes


def media(cluster: TestClient, signer: Signer, feed_id: str, task_hash: int, **claims: str):  # noqa: ANN201
    return cluster.get(
        f"/api/feeds/{feed_id}/media/{task_hash}",
        headers=signer.headers(role="annotator", **claims),
    )


def test_file_served_with_its_type(cluster, signer, import_jsonl, media_dir: Path) -> None:
    (media_dir / "cats").mkdir()
    (media_dir / "cats" / "tabby.png").write_bytes(PNG)
    feed_id, (task_hash,) = image_feed(cluster, signer, import_jsonl, ["cats/tabby.png"])

    response = media(cluster, signer, feed_id, task_hash)

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


def test_data_uri_served_by_sniffed_type(cluster, signer, import_jsonl) -> None:
    claimed_gif = data_uri(PNG, "image/gif")
    feed_id, (task_hash,) = image_feed(cluster, signer, import_jsonl, [claimed_gif])

    response = media(cluster, signer, feed_id, task_hash)

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("../secret.png", "points outside the media folder"),
        ("cats/../../secret.png", "points outside the media folder"),
        ("/etc/hostname", "use a relative path"),
        ("cats\\..\\..\\secret.png", "use a relative path"),
        ("link.png", "points outside the media folder"),
        ("missing.png", "not found in the media folder"),
        ("notes.txt", "not a usable image"),
        ("https://example.com/cat.png", "does not fetch URLs"),
        ("file:///etc/hostname", "does not fetch URLs"),
        ("data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", "not a usable image"),
        ("data:image/png,notbase64", "not base64"),
        ("data:image/png;base64,%%%", "invalid base64"),
    ],
)
def test_unsafe_or_bad_images_not_served(
    cluster, signer, import_jsonl, media_dir: Path, tmp_path: Path, image: str, fragment: str
) -> None:
    (tmp_path / "secret.png").write_bytes(PNG)
    (media_dir / "cats").mkdir()
    (media_dir / "link.png").symlink_to(tmp_path / "secret.png")
    (media_dir / "notes.txt").write_text("not an image")
    feed_id, (task_hash,) = image_feed(cluster, signer, import_jsonl, [image])

    response = media(cluster, signer, feed_id, task_hash)

    assert response.status_code == 404
    assert fragment in response.json()["error"]["message"]
    assert PNG not in response.content


def test_other_project_gets_404(cluster, signer, import_jsonl, media_dir: Path) -> None:
    (media_dir / "cat.png").write_bytes(PNG)
    feed_id, (task_hash,) = image_feed(cluster, signer, import_jsonl, ["cat.png"])

    response = media(cluster, signer, feed_id, task_hash, project="project-b")

    assert response.status_code == 404
    assert cluster.get(f"/api/feeds/{feed_id}/media/{task_hash}").status_code == 401


def test_unknown_task_gets_404(cluster, signer, import_jsonl, media_dir: Path) -> None:
    (media_dir / "cat.png").write_bytes(PNG)
    feed_id, _ = image_feed(cluster, signer, import_jsonl, ["cat.png"])

    response = media(cluster, signer, feed_id, 12345)

    assert response.status_code == 404
    assert "12345" in response.json()["error"]["message"]


def test_task_size_read_once(cluster, signer, import_jsonl, media_dir: Path) -> None:
    (media_dir / "cat.png").write_bytes(PNG)
    feed_id, _ = image_feed(cluster, signer, import_jsonl, ["cat.png"])
    headers = signer.headers(role="annotator")

    first = cluster.post(f"/api/feeds/{feed_id}/next", json={"count": 1}, headers=headers)
    (media_dir / "cat.png").write_bytes(png_bytes(80, 60))
    again = cluster.post(f"/api/feeds/{feed_id}/next", json={"count": 1}, headers=headers)

    task = first.json()["tasks"][0]
    assert (task["width"], task["height"], task["image"]) == (40, 30, "cat.png")
    assert again.json()["tasks"][0]["width"] == 40
