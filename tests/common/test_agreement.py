from __future__ import annotations

import itertools
import json
import math
import warnings
from collections import Counter
from collections.abc import Hashable
from fractions import Fraction
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score  # type: ignore[import-untyped]

from concord.common.agreement import (
    AgreementReport,
    PreparedRatings,
    Rating,
    agreement_report,
    annotator_agreement,
    cohen_kappa_pairwise,
    krippendorff_alpha_nominal,
    majority_vote,
    percent_agreement,
    prepare,
)
from concord.common.errors import InvalidInput
from concord.common.events import AgreementComputed, AnnotatorAgreement

TOLERANCE = 1e-9
PYDATA_FILE = (
    Path("prodigy-multiannotator-textcat-pydata-ams-2023") / "pydata-ams-2023.jsonl"
)
Table = dict[Any, dict[str, Hashable]]


def table_ratings(table: Table) -> list[Rating]:
    """Build one accept rating per cell of an item -> {annotator: value} table."""
    cells = [
        (item, annotator, value)
        for item, values in table.items()
        for annotator, value in values.items()
    ]
    return [
        Rating(item, annotator, value, "accept", None, order)
        for order, (item, annotator, value) in enumerate(cells)
    ]


def binary(
    item: str, annotator: str, answer: str, timestamp: float | None, order: int
) -> Rating:
    value = None if answer == "ignore" else answer
    return Rating(item, annotator, value, answer, timestamp, order)


# Three annotators on four items, and item 4 has one rating. Every expected number
# below is worked out by hand in the comments next to it and in the docs.
SMALL_TABLE: Table = {
    1: {"ann": "A", "ben": "A", "cat": "A"},
    2: {"ann": "A", "ben": "B", "cat": "A"},
    3: {"ann": "B", "ben": "B"},
    4: {"ann": "A"},
}


@pytest.fixture
def small() -> PreparedRatings:
    return prepare(table_ratings(SMALL_TABLE))


def test_prepare_small_table_counts(small: PreparedRatings) -> None:
    assert list(small.items) == [1, 2, 3]
    assert list(small.by_item) == [1, 2, 3, 4]
    assert small.items_excluded == 1
    assert small.items_all_ignored == 0
    assert small.ratings == 8
    assert small.annotators == ("ann", "ben", "cat")


def test_percent_agreement_small_table(small: PreparedRatings) -> None:
    # Agreeing shares of pairs: item 1 is 3/3, item 2 is 1/3, item 3 is 1/1.
    assert percent_agreement(small) == pytest.approx(7 / 9, abs=TOLERANCE)


def test_percent_agreement_three_values() -> None:
    table: Table = {
        "a": {"p": "x", "q": "x", "r": "y"},
        "b": {"p": "x", "q": "x"},
        "c": {"p": "x", "q": "y"},
    }
    prepared = prepare(table_ratings(table))
    assert percent_agreement(prepared) == pytest.approx(4 / 9, abs=TOLERANCE)


def test_alpha_small_table(small: PreparedRatings) -> None:
    # n = 8 pairable values, diagonal o_AA + o_BB = 3 + 1 + 2 = 6, marginals
    # n_A = 5 and n_B = 3: alpha = 1 - 7 * (8 - 6) / (64 - 25 - 9) = 8/15.
    assert krippendorff_alpha_nominal(small) == pytest.approx(8 / 15, abs=TOLERANCE)


# Four coders, twelve units, nominal values with missing data (None), from
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C.
TEXTBOOK_CODERS = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def textbook_table() -> Table:
    table: Table = {}
    for coder, row in TEXTBOOK_CODERS.items():
        for unit, value in enumerate(row, start=1):
            if value is not None:
                table.setdefault(unit, {})[coder] = value
    return table


def test_alpha_textbook_example() -> None:
    prepared = prepare(table_ratings(textbook_table()))
    alpha = krippendorff_alpha_nominal(prepared)

    # n = 40 pairable values (unit 12 has one), sum of o_cc = 32, and the sum
    # of n_c^2 is 81 + 169 + 100 + 25 + 9 = 384: alpha = 1 - 39 * 8 / 1216.
    assert alpha is not None
    assert alpha == pytest.approx(float(Fraction(113, 152)), abs=TOLERANCE)
    assert round(alpha, 3) == 0.743
    assert prepared.items_excluded == 1


def test_alpha_textbook_matches_package() -> None:
    rows = [
        [np.nan if value is None else value for value in row]
        for row in TEXTBOOK_CODERS.values()
    ]
    expected = krippendorff.alpha(reliability_data=rows, level_of_measurement="nominal")
    prepared = prepare(table_ratings(textbook_table()))
    alpha = krippendorff_alpha_nominal(prepared)
    assert alpha == pytest.approx(expected, abs=TOLERANCE)


def test_alpha_one_category_is_none() -> None:
    table: Table = {1: {"a": "x", "b": "x"}, 2: {"a": "x", "c": "x"}}
    prepared = prepare(table_ratings(table))
    assert krippendorff_alpha_nominal(prepared) is None
    assert percent_agreement(prepared) == 1.0


def test_metrics_empty_input_are_none() -> None:
    prepared = prepare([])
    assert percent_agreement(prepared) is None
    assert krippendorff_alpha_nominal(prepared) is None
    assert cohen_kappa_pairwise(prepared).mean is None
    assert prepared.annotators == ()


def test_kappa_small_table(small: PreparedRatings) -> None:
    pairwise = cohen_kappa_pairwise(small)
    by_pair = {pair.annotators: pair for pair in pairwise.pairs}

    # ann-ben on items 1-3: p_o = 2/3, p_e = (2*1 + 1*2)/9 = 4/9, kappa = 2/5.
    assert by_pair[("ann", "ben")].kappa == pytest.approx(0.4, abs=TOLERANCE)
    assert by_pair[("ann", "ben")].shared_items == 3
    # ann-cat both gave A on items 1 and 2, so p_e = 1 and kappa is undefined.
    assert by_pair[("ann", "cat")].kappa is None
    # ben-cat on items 1-2: p_o = 1/2, p_e = (1*2)/4 = 1/2, kappa = 0.
    assert by_pair[("ben", "cat")].kappa == pytest.approx(0.0, abs=TOLERANCE)
    assert pairwise.mean == pytest.approx(0.2, abs=TOLERANCE)
    assert pairwise.pairs_undefined == 1
    assert pairwise.pairs_defined == 2
    assert pairwise.pairs_too_few_items == 0


def test_kappa_min_shared_items(small: PreparedRatings) -> None:
    pairwise = cohen_kappa_pairwise(small, min_shared_items=3)
    assert [pair.annotators for pair in pairwise.pairs] == [("ann", "ben")]
    assert pairwise.pairs_too_few_items == 2
    assert pairwise.mean == pytest.approx(0.4, abs=TOLERANCE)


def test_kappa_perfect_and_opposite() -> None:
    table: Table = {
        1: {"a": "x", "b": "x", "c": "y"},
        2: {"a": "y", "b": "y", "c": "x"},
    }
    pairwise = cohen_kappa_pairwise(prepare(table_ratings(table)))
    by_pair = {pair.annotators: pair.kappa for pair in pairwise.pairs}
    assert by_pair[("a", "b")] == 1.0
    assert by_pair[("a", "c")] == -1.0
    assert by_pair[("b", "c")] == -1.0


def test_kappa_rejects_bad_minimum(small: PreparedRatings) -> None:
    with pytest.raises(InvalidInput, match="min_shared_items must be 1 or more, got 0"):
        cohen_kappa_pairwise(small, min_shared_items=0)


def test_annotator_agreement_small_table(small: PreparedRatings) -> None:
    entries = {entry.annotator_id: entry for entry in annotator_agreement(small)}
    assert list(entries) == ["ann", "ben", "cat"]

    # ann: agreeing pairs 2 + 1 + 1 out of 2 + 2 + 1.
    assert entries["ann"].items == 3
    assert entries["ann"].percent_agreement == pytest.approx(4 / 5, abs=TOLERANCE)
    assert entries["ann"].cohen_kappa == pytest.approx(0.4, abs=TOLERANCE)
    assert entries["ann"].kappa_pairs == 1
    # ben: agreeing pairs 2 + 0 + 1 out of 5, kappas 0.4 (ann) and 0 (cat).
    assert entries["ben"].percent_agreement == pytest.approx(3 / 5, abs=TOLERANCE)
    assert entries["ben"].cohen_kappa == pytest.approx(0.2, abs=TOLERANCE)
    assert entries["ben"].kappa_pairs == 2
    # cat: agreeing pairs 2 + 1 out of 4, one defined kappa (ben, 0).
    assert entries["cat"].items == 2
    assert entries["cat"].percent_agreement == pytest.approx(3 / 4, abs=TOLERANCE)
    assert entries["cat"].cohen_kappa == pytest.approx(0.0, abs=TOLERANCE)


def test_annotator_without_defined_kappa() -> None:
    table: Table = {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "x"}}
    entries = annotator_agreement(prepare(table_ratings(table)))
    assert [entry.cohen_kappa for entry in entries] == [None, None]
    assert [entry.percent_agreement for entry in entries] == [1.0, 1.0]


def test_tuple_values_for_spans() -> None:
    org = ((0, 5, "ORG"),)
    org_and_person = ((0, 5, "ORG"), (10, 14, "PERSON"))
    table: Table = {
        "t1": {"a": org, "b": org},
        "t2": {"a": org_and_person, "b": org},
        "t3": {"a": (), "b": ()},
    }
    prepared = prepare(table_ratings(table))
    assert percent_agreement(prepared) == pytest.approx(2 / 3, abs=TOLERANCE)
    # a: org, org+person, none; b: org, org, none. p_o = 2/3, p_e = 3/9.
    pair = cohen_kappa_pairwise(prepared).pairs[0]
    assert pair.kappa == pytest.approx(0.5, abs=TOLERANCE)


def test_latest_answer_by_timestamp() -> None:
    ratings = [
        binary("t", "a", "accept", 10, 0),
        binary("t", "a", "reject", 5, 1),
        binary("t", "b", "reject", 7, 2),
    ]
    prepared = prepare(ratings)
    assert prepared.items["t"] == {"a": "accept", "b": "reject"}
    assert prepared.answers_replaced == 1


def test_latest_answer_tie_uses_order() -> None:
    # The later order wins even though it comes first in the sequence.
    ratings = [
        binary("t", "a", "reject", 10, 3),
        binary("t", "a", "accept", 10, 1),
        binary("t", "b", "accept", 10, 2),
    ]
    assert prepare(ratings).items["t"]["a"] == "reject"


def test_latest_answer_missing_timestamp_uses_order() -> None:
    ratings = [
        binary("t", "a", "reject", 99, 0),
        binary("t", "a", "accept", None, 1),
        binary("t", "b", "accept", None, 2),
        binary("t", "b", "reject", None, 3),
    ]
    assert prepare(ratings).items["t"] == {"a": "accept", "b": "reject"}


def test_latest_ignore_removes_rating() -> None:
    ratings = [
        binary("t", "a", "accept", 1, 0),
        binary("t", "a", "ignore", 2, 1),
        binary("t", "b", "accept", 1, 2),
        binary("t", "c", "reject", 1, 3),
    ]
    prepared = prepare(ratings)
    assert prepared.items["t"] == {"b": "accept", "c": "reject"}
    assert prepared.answers_ignored == 1


def test_earlier_ignore_is_replaced() -> None:
    ratings = [
        binary("t", "a", "ignore", 1, 0),
        binary("t", "a", "accept", 2, 1),
        binary("t", "b", "accept", 1, 2),
    ]
    prepared = prepare(ratings)
    assert prepared.items["t"] == {"a": "accept", "b": "accept"}
    assert prepared.answers_ignored == 0


def test_items_below_two_ratings_excluded() -> None:
    ratings = [
        binary("kept", "a", "accept", 1, 0),
        binary("kept", "b", "reject", 1, 1),
        binary("single", "a", "accept", 1, 2),
        binary("ignored", "a", "ignore", 1, 3),
        binary("ignored", "b", "ignore", 1, 4),
        binary("half", "a", "accept", 1, 5),
        binary("half", "b", "ignore", 1, 6),
    ]
    prepared = prepare(ratings)
    assert list(prepared.items) == ["kept"]
    assert prepared.items_excluded == 3
    assert prepared.items_all_ignored == 1
    assert list(prepared.by_item) == ["kept", "single", "half"]
    assert prepared.ratings == 2
    assert percent_agreement(prepared) == 0.0


def test_annotators_only_on_kept_items() -> None:
    ratings = [
        binary("t", "a", "accept", 1, 0),
        binary("t", "b", "accept", 1, 1),
        binary("u", "c", "accept", 1, 2),
        binary("t", "d", "ignore", 1, 3),
    ]
    assert prepare(ratings).annotators == ("a", "b")


# A list is the unhashable value under test, which the type checker rejects.
LIST_VALUE = Rating("t", "a", ["x"], "accept", 1, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rating", "message"),
    [
        (Rating("t", "a", "x", "maybe", 1, 0), "has answer 'maybe'"),
        (Rating("t", "a", None, "accept", 1, 0), "has no value on an accept"),
        (LIST_VALUE, "unhashable value \\['x'\\]"),
        (Rating("t", "a", "x", "accept", math.nan, 0), "has timestamp nan"),
        (Rating("t", "", "x", "accept", 1, 0), "non-empty annotator"),
        (Rating(True, "a", "x", "accept", 1, 0), "item of type bool"),
    ],
)
def test_prepare_rejects_bad_rating(rating: Rating, message: str) -> None:
    good = Rating("t", "b", "x", "accept", 1, 0)
    with pytest.raises(InvalidInput, match=message) as caught:
        prepare([good, rating])
    assert caught.value.details == {"index": 1}


def test_prepare_accepts_ignore_without_value() -> None:
    prepared = prepare([Rating("t", "a", None, "ignore", None, 0)])
    assert prepared.items_all_ignored == 1


def test_report_small_table() -> None:
    report = agreement_report(table_ratings(SMALL_TABLE))
    assert report.items == 3
    assert report.items_excluded == 1
    assert report.annotators == 3
    assert report.ratings == 8
    assert report.percent_agreement == pytest.approx(7 / 9, abs=TOLERANCE)
    assert report.krippendorff_alpha == pytest.approx(8 / 15, abs=TOLERANCE)
    assert report.cohen_kappa == pytest.approx(0.2, abs=TOLERANCE)
    assert report.kappa_pairs == 2
    assert report.kappa_pairs_undefined == 1
    assert [entry.annotator_id for entry in report.per_annotator] == [
        "ann",
        "ben",
        "cat",
    ]


def test_report_dict_fills_event() -> None:
    report = agreement_report(table_ratings(SMALL_TABLE))
    body = json.loads(json.dumps(report.to_dict()))
    assert body["cohen_kappa"] == report.cohen_kappa
    assert len(body["per_annotator"]) == 3

    # Every metric field of the agreement.computed event comes from the report.
    envelope: dict[str, Any] = {
        "event_id": "e1",
        "cluster_id": "c1",
        "project_id": "p1",
        "created_at": "2024-01-01T00:00:00Z",
        "source_kind": "feed",
        "source_id": "f1",
    }
    metric_fields = set(AgreementComputed.model_fields) - set(envelope) - {"kind"}
    annotator_fields = set(AnnotatorAgreement.model_fields)
    fields = {key: body[key] for key in metric_fields}
    fields["per_annotator"] = [
        {key: entry[key] for key in annotator_fields} for entry in body["per_annotator"]
    ]
    event = AgreementComputed(**envelope, **fields)
    assert event.krippendorff_alpha == report.krippendorff_alpha


def test_report_accepts_prepared(small: PreparedRatings) -> None:
    report = agreement_report(small, min_shared_items=3)
    assert isinstance(report, AgreementReport)
    assert report.min_shared_items == 3
    assert report.kappa_pairs_too_few_items == 2


def test_vote_clear_winner() -> None:
    result = majority_vote(table_ratings({"t": {"a": "x", "b": "x", "c": "y"}}), 0.5)
    (vote,) = result.items
    assert vote.winner == "x"
    assert vote.share == pytest.approx(2 / 3)
    assert vote.gold
    assert [(v.value, v.annotators) for v in vote.votes] == [
        ("x", ("a", "b")),
        ("y", ("c",)),
    ]


def test_vote_tie_is_conflict() -> None:
    table: Table = {"t": {"d": "y", "a": "x", "c": "y", "b": "x"}}
    result = majority_vote(table_ratings(table), 0.0)
    (vote,) = result.conflicts
    assert vote.winner is None
    assert vote.share == 0.5
    assert not vote.gold
    # Equal counts keep the order in which the values were first given.
    assert [(v.value, v.annotators) for v in vote.votes] == [
        ("y", ("c", "d")),
        ("x", ("a", "b")),
    ]
    assert result.gold == ()


def test_vote_below_threshold_is_conflict() -> None:
    result = majority_vote(table_ratings({"t": {"a": "x", "b": "x", "c": "y"}}), 0.7)
    (vote,) = result.conflicts
    assert vote.winner == "x"
    assert not vote.gold


def test_vote_share_equal_to_threshold_is_gold() -> None:
    values: dict[str, Hashable] = {name: "x" for name in "abcdefg"}
    values |= {"h": "y", "i": "y", "j": "z"}
    table: Table = {"t": values}
    (vote,) = majority_vote(table_ratings(table), 0.7).items
    assert vote.share == 0.7
    assert vote.gold


def test_vote_all_ignored_counted() -> None:
    ratings = [
        binary("ignored", "a", "ignore", 1, 0),
        binary("ignored", "b", "ignore", 1, 1),
        binary("single", "a", "accept", 1, 2),
    ]
    result = majority_vote(ratings, 0.5)
    assert [vote.item for vote in result.items] == ["single"]
    assert result.items_all_ignored == 1
    assert result.gold[0].winner == "accept"


def test_vote_min_ratings(small: PreparedRatings) -> None:
    result = majority_vote(small, 0.6, min_ratings=3)
    assert [vote.item for vote in result.items] == [1, 2]
    assert result.items_too_few_ratings == 2
    assert [vote.winner for vote in result.gold] == ["A", "A"]


@pytest.mark.parametrize(
    ("min_agreement", "min_ratings", "message"),
    [
        (1.5, 1, "min_agreement must be a number from 0 to 1, got 1.5"),
        (math.nan, 1, "min_agreement must be a number from 0 to 1, got nan"),
        (0.5, 0, "min_ratings must be an integer of 1 or more, got 0"),
    ],
)
def test_vote_rejects_bad_settings(
    small: PreparedRatings, min_agreement: float, min_ratings: int, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        majority_vote(small, min_agreement, min_ratings)


# The real multi-annotator file: binary answers of 42 annotators on 117 texts.


def read_pydata(shared_data: Path) -> list[dict[str, Any]]:
    with (shared_data / PYDATA_FILE).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# "sparse" keeps every ninth row, which leaves items with fewer than two
# ratings, annotator pairs with too few shared items and tied votes.
@pytest.fixture(scope="module", params=["full", "sparse"])
def pydata_rows(
    request: pytest.FixtureRequest, shared_data: Path
) -> list[dict[str, Any]]:
    rows = read_pydata(shared_data)
    if request.param == "sparse":
        return rows[::9]
    return rows


def test_pydata_file_shape(shared_data: Path) -> None:
    rows = read_pydata(shared_data)
    assert len(rows) == 3372
    assert {row["label"] for row in rows} == {"new-dataset"}


@pytest.fixture(scope="module")
def pydata_ratings(pydata_rows: list[dict[str, Any]]) -> list[Rating]:
    return [
        binary(
            row["_task_hash"],
            row["_annotator_id"],
            row["answer"],
            row["_timestamp"],
            index,
        )
        for index, row in enumerate(pydata_rows)
    ]


@pytest.fixture(scope="module")
def pydata_table(pydata_rows: list[dict[str, Any]]) -> Table:
    """Apply the conventions independently: replay answers oldest first."""
    latest: dict[tuple[int, str], str] = {}
    ordered = sorted(enumerate(pydata_rows), key=lambda p: (p[1]["_timestamp"], p[0]))
    for _, row in ordered:
        latest[(row["_task_hash"], row["_annotator_id"])] = row["answer"]
    table: Table = {}
    for (item, annotator), answer in latest.items():
        if answer != "ignore":
            table.setdefault(item, {})[annotator] = answer
    return table


@pytest.fixture(scope="module")
def pydata_kept(pydata_table: Table) -> Table:
    return {item: values for item, values in pydata_table.items() if len(values) >= 2}


@pytest.fixture(scope="module")
def pydata_report(pydata_ratings: list[Rating]) -> AgreementReport:
    return agreement_report(pydata_ratings)


def sklearn_pair_kappas(table: Table, minimum: int) -> dict[tuple[str, str], float]:
    annotators = sorted({name for values in table.values() for name in values})
    kappas: dict[tuple[str, str], float] = {}
    for first, second in itertools.combinations(annotators, 2):
        shared = [v for v in table.values() if first in v and second in v]
        if len(shared) < minimum:
            continue
        with warnings.catch_warnings():
            # sklearn warns and returns nan when p_e is 1.
            warnings.simplefilter("ignore")
            kappa = cohen_kappa_score(
                [v[first] for v in shared], [v[second] for v in shared]
            )
        kappas[(first, second)] = float(kappa)
    return kappas


def test_pydata_counts(
    pydata_rows: list[dict[str, Any]],
    pydata_ratings: list[Rating],
    pydata_kept: Table,
    pydata_report: AgreementReport,
) -> None:
    prepared = prepare(pydata_ratings)
    all_items = {row["_task_hash"] for row in pydata_rows}
    answer_slots = {(row["_task_hash"], row["_annotator_id"]) for row in pydata_rows}
    annotators = {name for values in pydata_kept.values() for name in values}

    assert pydata_report.items == len(pydata_kept)
    assert pydata_report.items_excluded == len(all_items) - len(pydata_kept)
    assert pydata_report.annotators == len(annotators)
    assert pydata_report.annotators <= 42
    assert pydata_report.ratings == sum(len(v) for v in pydata_kept.values())
    assert prepared.items == pydata_kept
    assert prepared.answers_replaced == len(pydata_rows) - len(answer_slots)


def test_pydata_alpha_matches_package(
    pydata_table: Table, pydata_report: AgreementReport
) -> None:
    annotators = sorted({name for values in pydata_table.values() for name in values})
    codes: dict[Hashable, float] = {"accept": 1.0, "reject": 0.0}
    matrix = [
        [codes[v[name]] if name in v else np.nan for v in pydata_table.values()]
        for name in annotators
    ]
    expected = krippendorff.alpha(
        reliability_data=matrix, level_of_measurement="nominal"
    )
    assert pydata_report.krippendorff_alpha is not None
    assert abs(pydata_report.krippendorff_alpha - expected) < TOLERANCE


def test_pydata_kappa_matches_sklearn(
    pydata_kept: Table, pydata_ratings: list[Rating], pydata_report: AgreementReport
) -> None:
    expected = sklearn_pair_kappas(pydata_kept, minimum=2)
    defined = [kappa for kappa in expected.values() if not math.isnan(kappa)]
    pairwise = cohen_kappa_pairwise(prepare(pydata_ratings))

    assert pydata_report.cohen_kappa is not None
    assert abs(pydata_report.cohen_kappa - sum(defined) / len(defined)) < TOLERANCE
    assert pydata_report.kappa_pairs == len(defined)
    assert pydata_report.kappa_pairs_undefined == len(expected) - len(defined)
    assert len(pairwise.pairs) == len(expected)
    for pair in pairwise.pairs:
        reference = expected[pair.annotators]
        if math.isnan(reference):
            assert pair.kappa is None, pair.annotators
        else:
            assert pair.kappa is not None, pair.annotators
            assert abs(pair.kappa - reference) < TOLERANCE, pair.annotators


def test_pydata_percent_agreement(
    pydata_kept: Table, pydata_report: AgreementReport
) -> None:
    shares = []
    for values in pydata_kept.values():
        pairs = list(itertools.combinations(values.values(), 2))
        shares.append(sum(first == second for first, second in pairs) / len(pairs))
    assert pydata_report.percent_agreement is not None
    assert abs(pydata_report.percent_agreement - sum(shares) / len(shares)) < TOLERANCE


def test_pydata_per_annotator(
    pydata_kept: Table, pydata_report: AgreementReport
) -> None:
    kappas = sklearn_pair_kappas(pydata_kept, minimum=2)
    for entry in pydata_report.per_annotator:
        name = entry.annotator_id
        rated = [values for values in pydata_kept.values() if name in values]
        others = [
            (values[name], value)
            for values in rated
            for other, value in values.items()
            if other != name
        ]
        agreeing = sum(mine == theirs for mine, theirs in others)
        own_kappas = [
            kappa
            for pair, kappa in kappas.items()
            if name in pair and not math.isnan(kappa)
        ]

        assert entry.items == len(rated), name
        assert entry.percent_agreement is not None, name
        assert abs(entry.percent_agreement - agreeing / len(others)) < TOLERANCE, name
        assert entry.kappa_pairs == len(own_kappas), name
        if own_kappas:
            assert entry.cohen_kappa is not None, name
            mean = sum(own_kappas) / len(own_kappas)
            assert abs(entry.cohen_kappa - mean) < TOLERANCE, name
        else:
            assert entry.cohen_kappa is None, name


@pytest.mark.parametrize("min_agreement", [0.5, 0.7, 0.9])
def test_pydata_majority_vote(
    pydata_rows: list[dict[str, Any]],
    pydata_ratings: list[Rating],
    pydata_table: Table,
    min_agreement: float,
) -> None:
    result = majority_vote(pydata_ratings, min_agreement)
    all_items = {row["_task_hash"] for row in pydata_rows}
    assert len(result.items) == len(pydata_table)
    assert {vote.item for vote in result.items} == set(pydata_table)
    assert result.items_all_ignored == len(all_items - set(pydata_table))

    for vote in result.items:
        counts = Counter(pydata_table[vote.item].values()).most_common()
        top_value, top_count = counts[0]
        runner_up = counts[1][1] if len(counts) > 1 else 0
        total = sum(count for _, count in counts)
        expected_gold = top_count > runner_up and top_count / total >= min_agreement

        assert vote.gold == expected_gold, vote.item
        assert vote.ratings == total, vote.item
        assert (vote.winner is not None) == (top_count > runner_up), vote.item
        if vote.winner is not None:
            assert vote.winner == top_value, vote.item
            assert vote.share == top_count / total, vote.item
