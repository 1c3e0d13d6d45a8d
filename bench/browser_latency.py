"""Measure the annotation page's latency in Debian's chromium against a local cluster.

Starts a cluster on 127.0.0.1 with its own temporary database, imports
documents of about 20,000 characters with 300 pre-filled NER spans each, and
drives the page headless through Playwright. It reports, as median, p95 and
max in milliseconds:

- open: from the start of navigation to the first task painted;
- next task: from an accept key press to the next task painted;
- answer stored: from that key press to the server's reply storing the answer.

Run it from the repository root::

    python bench/browser_latency.py

Only 127.0.0.1 is contacted. The numbers depend on the machine: the page in
``docs/benchmarks.md`` gives the ones measured there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concord.cluster.app import create_app  # noqa: E402
from concord.cluster.database import Database  # noqa: E402
from concord.cluster.settings import ClusterSettings  # noqa: E402
from concord.cluster.state import Membership, save_membership  # noqa: E402

logger = logging.getLogger("bench.browser_latency")

ISSUER = "concord-bench"
LABELS = ["PERSON", "ORG", "GPE", "DATE"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WAIT_MS = 30_000

# Records, in the page's own clock, when each task is painted and when each
# accept key and each stored answer happen. A task counts as painted after
# the frame that follows the DOM change.
PROBE_JS = """
(() => {
  const probe = { shown: [], keys: [], stored: [] };
  window.__probe = probe;
  window.addEventListener("keydown", (event) => {
    if (event.key === "a") probe.keys.push(event.timeStamp);
  }, true);
  const realFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const response = await realFetch(...args);
    if (String(args[0]).endsWith("/answers")) probe.stored.push(performance.now());
    return response;
  };
  const watch = () => {
    const card = document.getElementById("task-card");
    if (!card) return window.requestAnimationFrame(watch);
    new MutationObserver(() => {
      const hash = card.dataset.taskHash;
      if (!hash) return;
      window.requestAnimationFrame(() => setTimeout(() => {
        probe.shown.push({ hash, at: performance.now() });
      }, 0));
    }).observe(card, { attributes: true, attributeFilter: ["data-task-hash"] });
  };
  document.addEventListener("DOMContentLoaded", watch);
})();
"""


@dataclass
class Cluster:
    url: str
    key: Ed25519PrivateKey
    cluster_id: str

    def token(self, role: str, user: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": self.cluster_id, "sub": user, "name": user,
            "project": "bench", "role": role, "feeds": ["*"], "iat": now, "exp": now + 3600,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@contextmanager
def running_cluster(data_dir: Path) -> Iterator[Cluster]:
    """Run a cluster joined to a control plane that exists only as this key pair."""
    key = Ed25519PrivateKey.generate()
    cluster_id = uuid.uuid4().hex
    port = free_port()
    settings = ClusterSettings(
        data_dir=data_dir, port=port, control_url=f"http://127.0.0.1:{free_port()}"
    )

    database = Database(settings.resolved_database_url)
    database.migrate()
    with database.transaction() as session:
        membership = Membership(cluster_id, "bench-secret", public_pem(key), ISSUER)
        save_membership(session, membership)
    database.dispose()

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError("the cluster did not start within 30 s")
    try:
        yield Cluster(url=url, key=key, cluster_id=cluster_id)
    finally:
        server.should_exit = True
        thread.join(10)


WORDS = (
    "annotation model corpus label review token span entity river city market "
    "paper engine signal water garden morning letter island school bridge "
    "Zoë São José Ärzte naïve façade"
).split()


def document(rng: random.Random, chars: int, spans: int) -> dict[str, Any]:
    """Generate a text of about ``chars`` characters with ``spans`` one-word entity spans."""
    words: list[str] = []
    length = 0
    while length < chars:
        word = rng.choice(WORDS)
        if rng.random() < 0.08:
            word += "."
        words.append(word)
        length += len(word) + 1
    text = " ".join(words)
    starts = []
    offset = 0
    for word in words:
        starts.append((offset, word.rstrip(".")))
        offset += len(word) + 1
    step = len(starts) // spans
    chosen = [starts[index * step] for index in range(spans)]
    return {
        "text": text,
        "spans": [
            {"start": start, "end": start + len(word), "label": LABELS[n % len(LABELS)]}
            for n, (start, word) in enumerate(chosen)
        ],
    }


def create_feed(cluster: Cluster, documents: int, chars: int, spans: int) -> str:
    rng = random.Random(20_000)
    headers = {"Authorization": f"Bearer {cluster.token('manager', 'manager')}"}
    with httpx.Client(base_url=cluster.url, headers=headers, timeout=120) as client:
        dataset = client.post("/api/datasets", json={"name": "long-documents"}).json()["id"]
        body = b"".join(
            orjson.dumps(document(rng, chars, spans)) + b"\n" for _ in range(documents)
        )
        imported = client.post(f"/api/datasets/{dataset}/import", content=body)
        imported.raise_for_status()
        feed = client.post(
            "/api/feeds",
            json={"dataset_id": dataset, "name": "long-ner", "interface": "ner_manual",
                  "labels": LABELS},
        )
        feed.raise_for_status()
        return str(feed.json()["id"])


def enter(page: Page, cluster: Cluster, feed_id: str) -> None:
    token = cluster.token("annotator", "annotator-1")
    entered = page.request.post(
        f"{cluster.url}/auth/enter", form={"token": token, "next": f"/annotate/{feed_id}"}
    )
    if not entered.ok:
        raise RuntimeError(f"entering the cluster failed: {entered.status}")


def probe(page: Page) -> dict[str, Any]:
    return page.evaluate("() => window.__probe")


def measure_opens(page: Page, url: str, opens: int) -> list[float]:
    times = []
    for _ in range(opens):
        page.goto(url)
        page.wait_for_function("() => window.__probe.shown.length > 0", timeout=WAIT_MS)
        times.append(probe(page)["shown"][0]["at"])
    return times


def measure_answers(page: Page, answers: int, pause_ms: int) -> tuple[list[float], list[float]]:
    """Accept ``answers`` tasks one by one; return next-task and stored latencies."""
    page.wait_for_function("() => window.__probe.shown.length > 0", timeout=WAIT_MS)
    for number in range(answers):
        page.wait_for_timeout(pause_ms)
        page.keyboard.press("a")
        page.wait_for_function(
            f"() => window.__probe.shown.length > {number + 1}", timeout=WAIT_MS
        )
    page.wait_for_function(
        f"() => window.__probe.stored.length >= {answers}", timeout=WAIT_MS
    )
    data = probe(page)
    keys = data["keys"][:answers]
    shown = [entry["at"] for entry in data["shown"][1 : answers + 1]]
    stored = data["stored"][:answers]
    return (
        [after - key for key, after in zip(keys, shown)],
        [after - key for key, after in zip(keys, stored)],
    )


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "count": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


def machine(chromium: str) -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run(
        [chromium, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "chromium": version,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = round(os.getloadavg()[0], 2)
    documents = args.answers + 12
    with tempfile.TemporaryDirectory(prefix="concord-bench-") as folder:
        with running_cluster(Path(folder)) as cluster:
            feed_id = create_feed(cluster, documents, args.chars, args.spans)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
                )
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_init_script(PROBE_JS)
                page = context.new_page()
                enter(page, cluster, feed_id)
                url = f"{cluster.url}/annotate/{feed_id}"
                opens = measure_opens(page, url, args.opens)
                page.goto(url)
                shown, stored = measure_answers(page, args.answers, args.pause_ms)
                browser.close()
    return {
        "settings": vars(args),
        "machine": {**machine(args.chromium), "load_average_1min_before": load_before},
        "open_to_first_task_ms": summary(opens),
        "key_to_next_task_ms": summary(shown),
        "key_to_answer_stored_ms": summary(stored),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=50, help="Answers to time.")
    parser.add_argument("--opens", type=int, default=10, help="Page opens to time.")
    parser.add_argument("--chars", type=int, default=20_000, help="Characters per document.")
    parser.add_argument("--spans", type=int, default=300, help="Pre-filled spans per document.")
    parser.add_argument(
        "--pause-ms", type=int, default=250, help="Wait before each key press, in ms."
    )
    parser.add_argument(
        "--chromium", default=os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium"),
        help="Path of the chromium binary.",
    )
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # No control plane listens, so the outbox sender would log every retry.
    logging.getLogger("concord").setLevel(logging.ERROR)
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['machine']}")
    for name in ("open_to_first_task_ms", "key_to_next_task_ms", "key_to_answer_stored_ms"):
        figures = results[name]
        print(
            f"{name:26} n={figures['count']:3}  median {figures['median']:7.1f}  "
            f"p95 {figures['p95']:7.1f}  max {figures['max']:7.1f}"
        )


if __name__ == "__main__":
    main()
