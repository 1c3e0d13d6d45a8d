"""``concord agreement``, ``gold`` and ``conflicts`` on the real 42-annotator file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from concord.cli.demo import DEMO_DATA_DIR, MULTI_ANNOTATOR_FILE
from concord.cli.supervisor import RunningPlanes

from ..conftest import Cli, assert_ok, unique

SOURCE = DEMO_DATA_DIR / MULTI_ANNOTATOR_FILE


@pytest.fixture(scope="module")
def project(planes: RunningPlanes) -> str:
    cli = Cli(planes.data_dir)
    name = unique("review")
    assert_ok(cli("project", "create", name))
    assert_ok(cli("dataset", "import", name, "pydata", str(SOURCE)))
    return name


def distinct_annotators(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return len({json.loads(line)["_annotator_id"] for line in handle})


def test_agreement_json(cli: Cli, project: str) -> None:
    result = cli("agreement", project, "--dataset", "pydata", "--json")

    assert_ok(result)
    report = json.loads(result.stdout)
    assert report["annotators"] == distinct_annotators(SOURCE)
    assert report["items"] + report["items_excluded"] == 117
    assert 0.0 < report["percent_agreement"] <= 1.0
    assert -1.0 <= report["krippendorff_alpha"] <= 1.0
    assert len(report["per_annotator"]) == report["annotators"]


def test_agreement_table(cli: Cli, project: str) -> None:
    result = cli("agreement", project, "--dataset", "pydata", "--rows", "5")

    assert_ok(result)
    assert "Krippendorff's alpha" in result.stdout
    assert "Per annotator (5 of 42" in result.stdout
    assert "and 37 more annotators" in result.stdout


def test_agreement_needs_one_source(cli: Cli, project: str) -> None:
    neither = cli("agreement", project)
    both = cli("agreement", project, "--dataset", "pydata", "--feed", "x")

    assert neither.exit_code == 1
    assert both.exit_code == 1
    assert "exactly one of --feed and --dataset" in neither.stderr


def test_gold_and_conflicts_agree(cli: Cli, project: str, tmp_path: Path) -> None:
    gold = cli(
        "gold",
        project,
        "--dataset",
        "pydata",
        "--name",
        "strict",
        "--min-agreement",
        "0.7",
        "--json",
    )
    conflicts = cli(
        "conflicts", project, "--dataset", "pydata", "--min-agreement", "0.7", "--json"
    )
    exported = cli(
        "export", project, "--gold", "strict", "-o", str(tmp_path / "g.jsonl")
    )

    assert_ok(gold)
    assert_ok(conflicts)
    assert_ok(exported)
    built = json.loads(gold.stdout)
    listed = json.loads(conflicts.stdout)
    assert built["conflicts"] == listed["count"] > 0
    assert built["gold_items"] + built["conflicts"] <= built["items"]
    lines = (tmp_path / "g.jsonl").read_text().splitlines()
    assert len(lines) == built["gold_items"]


def test_stricter_gold_keeps_fewer_items(cli: Cli, project: str) -> None:
    loose = cli(
        "gold",
        project,
        "--dataset",
        "pydata",
        "--name",
        "loose",
        "--min-agreement",
        "0.5",
        "--json",
    )
    strict = cli(
        "gold",
        project,
        "--dataset",
        "pydata",
        "--name",
        "strictest",
        "--min-agreement",
        "0.9",
        "--json",
    )

    assert_ok(loose)
    assert_ok(strict)
    assert (
        json.loads(strict.stdout)["gold_items"] < json.loads(loose.stdout)["gold_items"]
    )


def test_gold_rejects_threshold_above_one(cli: Cli, project: str) -> None:
    result = cli(
        "gold", project, "--dataset", "pydata", "--name", "x", "--min-agreement", "1.5"
    )

    assert result.exit_code == 2


def test_export_unknown_gold(cli: Cli, project: str, tmp_path: Path) -> None:
    result = cli("export", project, "--gold", "pydata", "-o", str(tmp_path / "x.jsonl"))

    assert result.exit_code == 1
    assert "Gold dataset 'pydata' not found" in result.stderr
