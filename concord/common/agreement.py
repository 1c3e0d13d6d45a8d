"""Inter-annotator agreement and majority vote over nominal ratings.

A rating is one annotator's latest answer on one item. Its value is an opaque
nominal category: any hashable value, compared with ``==``. Callers map their
records to values (the answer for binary classification, a sorted tuple of
option ids for a choice, a sorted tuple of ``(start, end, label)`` for spans),
so nothing here depends on an annotation interface.

``prepare`` applies the three conventions that every metric shares:

1. When an annotator answered an item more than once, the latest answer wins.
2. An ``ignore`` answer is missing data, so a latest ``ignore`` removes the
   annotator's rating for that item.
3. Items with fewer than two ratings are left out of every metric and counted.

docs/agreement.md defines each metric and what it returns when it is undefined.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from concord.common.errors import InvalidInput
from concord.common.tasks import ANSWERS

logger = logging.getLogger(__name__)

ItemId = str | int
# item -> {annotator: value}, items in order of first appearance in the input.
RatingTable = dict[ItemId, dict[str, Hashable]]

DEFAULT_MIN_SHARED_ITEMS = 2


@dataclass(frozen=True)
class Rating:
    """One answer by one annotator on one item.

    ``value`` is the nominal category and may be ``None`` only when ``answer``
    is ``ignore``. ``order`` is the answer's position in the input, and it
    decides between answers whose timestamps tie or are missing.
    """

    item: ItemId
    annotator: str
    value: Hashable | None
    answer: str
    timestamp: float | int | None
    order: int


@dataclass(frozen=True)
class PreparedRatings:
    """Ratings after the conventions, with the counts the reports show.

    ``items`` contains the items with two or more ratings, which every metric
    uses, and ``ratings`` counts the ratings on them. ``by_item`` also contains
    the items with exactly one rating, which the majority vote may use.
    ``answers_replaced`` counts older answers dropped by the latest-answer rule,
    and ``answers_ignored`` counts latest answers that were ``ignore``.
    """

    by_item: RatingTable
    items: RatingTable
    items_excluded: int
    items_all_ignored: int
    ratings: int
    annotators: tuple[str, ...]
    answers_replaced: int
    answers_ignored: int


def prepare(ratings: Iterable[Rating]) -> PreparedRatings:
    """Validate ratings and apply the latest-answer, ignore and two-rating rules.

    Raises InvalidInput naming the first rating that has an unknown answer, an
    unhashable value, a ``None`` value on a non-ignore answer, or an invalid
    item, annotator or timestamp.
    """
    groups, answer_count = _group_answers(ratings)
    by_item: RatingTable = {}
    items_all_ignored = 0
    answers_ignored = 0
    for item, answers in groups.items():
        latest = {annotator: _latest(group) for annotator, group in answers.items()}
        values = {a: r.value for a, r in latest.items() if r.answer != "ignore"}
        answers_ignored += len(latest) - len(values)
        if values:
            by_item[item] = values
        else:
            items_all_ignored += 1

    items = {item: values for item, values in by_item.items() if len(values) >= 2}
    annotators = {annotator for values in items.values() for annotator in values}
    answer_slots = sum(len(answers) for answers in groups.values())
    return PreparedRatings(
        by_item=by_item,
        items=items,
        items_excluded=len(groups) - len(items),
        items_all_ignored=items_all_ignored,
        ratings=sum(len(values) for values in items.values()),
        annotators=tuple(sorted(annotators)),
        answers_replaced=answer_count - answer_slots,
        answers_ignored=answers_ignored,
    )


# Each answer is kept with its index in the input, the last tie-breaker.
_Indexed = tuple[Rating, int]


def _group_answers(
    ratings: Iterable[Rating],
) -> tuple[dict[ItemId, dict[str, list[_Indexed]]], int]:
    groups: dict[ItemId, dict[str, list[_Indexed]]] = {}
    count = 0
    for index, rating in enumerate(ratings):
        _validate_rating(rating, index)
        groups.setdefault(rating.item, {}).setdefault(rating.annotator, []).append(
            (rating, index)
        )
        count += 1
    return groups, count


def _latest(group: list[_Indexed]) -> Rating:
    # Timestamps decide only when every answer in the group has one, because a
    # missing timestamp cannot be compared with a present one. Otherwise, and on
    # equal timestamps, the later position in the input wins.
    if all(rating.timestamp is not None for rating, _ in group):
        newest = max(group, key=lambda p: (p[0].timestamp, p[0].order, p[1]))
    else:
        newest = max(group, key=lambda p: (p[0].order, p[1]))
    return newest[0]


def _validate_rating(rating: Rating, index: int) -> None:
    context = f"Rating {index} (item {rating.item!r}, annotator {rating.annotator!r})"
    details: dict[str, Any] = {"index": index}
    if isinstance(rating.item, bool) or not isinstance(rating.item, (str, int)):
        raise InvalidInput(
            f"{context} has an item of type {type(rating.item).__name__}. "
            "Use the task hash as a string or an integer.",
            details,
        )
    if not isinstance(rating.annotator, str) or not rating.annotator:
        raise InvalidInput(f"{context} needs a non-empty annotator id string.", details)
    if rating.answer not in ANSWERS:
        raise InvalidInput(
            f"{context} has answer {rating.answer!r}. Use accept, reject or ignore.",
            details,
        )
    if not _is_valid_timestamp(rating.timestamp):
        raise InvalidInput(
            f"{context} has timestamp {rating.timestamp!r}. "
            "Use a finite number of seconds or None.",
            details,
        )
    if rating.answer != "ignore":
        _validate_value(rating.value, context, details)


def _is_valid_timestamp(timestamp: object) -> bool:
    if timestamp is None:
        return True
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        return False
    return math.isfinite(timestamp)


def _validate_value(value: object, context: str, details: dict[str, Any]) -> None:
    if value is None:
        raise InvalidInput(
            f"{context} has no value on an accept or reject answer. Map the "
            "annotation to a category, or use answer 'ignore' for no rating.",
            details,
        )
    try:
        hash(value)
    except TypeError:
        raise InvalidInput(
            f"{context} has an unhashable value {value!r}. "
            "Use tuples instead of lists or dicts.",
            details,
        ) from None


def _agreeing_pairs(counts: Iterable[int]) -> int:
    return sum(count * (count - 1) // 2 for count in counts)


def _pairs(count: int) -> int:
    return count * (count - 1) // 2


def percent_agreement(prepared: PreparedRatings) -> float | None:
    """Compute pairwise percent agreement: the mean over items of the agreeing share
    of that item's rating pairs. Returns None when no item has two ratings."""
    shares = [
        _agreeing_pairs(Counter(values.values()).values()) / _pairs(len(values))
        for values in prepared.items.values()
    ]
    if not shares:
        return None
    return math.fsum(shares) / len(shares)


def krippendorff_alpha_nominal(prepared: PreparedRatings) -> float | None:
    """Compute Krippendorff's alpha for nominal values from the coincidence matrix.

    Returns None when there is no pairable value or when every value falls in
    one category, because the expected disagreement is then zero.
    """
    # For nominal data only the diagonal of the coincidence matrix (o_cc) and
    # its marginals (n_c) are needed: the disagreement is everything else.
    diagonal_terms: list[float] = []
    marginals: Counter[Hashable] = Counter()
    for values in prepared.items.values():
        counts = Counter(values.values())
        pairable = len(values)
        diagonal_terms.append(
            sum(n * (n - 1) for n in counts.values()) / (pairable - 1)
        )
        marginals.update(counts)

    total = sum(marginals.values())
    # n_c * n_k summed over c != k, an exact integer.
    expected_pairs = total * total - sum(n * n for n in marginals.values())
    if total == 0 or expected_pairs == 0:
        return None
    observed_disagreement = total - math.fsum(diagonal_terms)
    return 1.0 - (total - 1) * observed_disagreement / expected_pairs


@dataclass(frozen=True)
class PairKappa:
    """Cohen's kappa of two annotators on the items they both rated."""

    annotators: tuple[str, str]
    shared_items: int
    kappa: float | None  # None when chance agreement is 1


@dataclass(frozen=True)
class PairwiseKappa:
    """Cohen's kappa for every annotator pair that shares enough items.

    ``pairs`` lists the pairs with at least ``min_shared_items`` shared items,
    sorted by annotator ids. ``mean`` averages the defined kappas.
    ``pairs_too_few_items`` counts pairs that share at least one item but
    fewer than the minimum.
    """

    mean: float | None
    pairs: tuple[PairKappa, ...]
    pairs_undefined: int
    pairs_too_few_items: int
    min_shared_items: int

    @property
    def pairs_defined(self) -> int:
        return len(self.pairs) - self.pairs_undefined


def cohen_kappa_pairwise(
    prepared: PreparedRatings, min_shared_items: int = DEFAULT_MIN_SHARED_ITEMS
) -> PairwiseKappa:
    """Compute Cohen's kappa for each annotator pair and the mean over the pairs.

    A pair is used when it shares at least ``min_shared_items`` items. A pair
    whose chance agreement is 1 (both annotators gave one and the same value
    on every shared item) is counted in ``pairs_undefined`` and left out of
    the mean. The mean is None when no pair has a defined kappa.
    """
    _validate_min_shared_items(min_shared_items)
    confusions = _pair_confusions(prepared.items)
    pairs: list[PairKappa] = []
    too_few = 0
    for annotators in sorted(confusions):
        confusion = confusions[annotators]
        shared = sum(confusion.values())
        if shared < min_shared_items:
            too_few += 1
            continue
        pairs.append(PairKappa(annotators, shared, _cohen_kappa(confusion)))

    kappas = [pair.kappa for pair in pairs if pair.kappa is not None]
    mean = math.fsum(kappas) / len(kappas) if kappas else None
    return PairwiseKappa(
        mean=mean,
        pairs=tuple(pairs),
        pairs_undefined=len(pairs) - len(kappas),
        pairs_too_few_items=too_few,
        min_shared_items=min_shared_items,
    )


def _validate_min_shared_items(min_shared_items: int) -> None:
    if isinstance(min_shared_items, bool) or not isinstance(min_shared_items, int):
        raise InvalidInput(
            f"min_shared_items must be an integer, got {min_shared_items!r}."
        )
    if min_shared_items < 1:
        raise InvalidInput(
            f"min_shared_items must be 1 or more, got {min_shared_items}."
        )


def _pair_confusions(
    items: RatingTable,
) -> dict[tuple[str, str], Counter[tuple[Hashable, Hashable]]]:
    # One pass over the items builds every pair's confusion counts, so the cost
    # is the number of rating pairs, not annotators squared times items.
    confusions: dict[tuple[str, str], Counter[tuple[Hashable, Hashable]]] = (
        defaultdict(Counter)
    )
    for values in items.values():
        ordered = sorted(values.items(), key=itemgetter(0))
        for (first, first_value), (second, second_value) in itertools.combinations(
            ordered, 2
        ):
            confusions[(first, second)][(first_value, second_value)] += 1
    return confusions


def _cohen_kappa(confusion: Counter[tuple[Hashable, Hashable]]) -> float | None:
    # Integer counts scaled by N^2 keep p_o and p_e exact until the division.
    total = sum(confusion.values())
    agreeing = sum(
        count for (first, second), count in confusion.items() if first == second
    )
    first_marginals: Counter[Hashable] = Counter()
    second_marginals: Counter[Hashable] = Counter()
    for (first, second), count in confusion.items():
        first_marginals[first] += count
        second_marginals[second] += count
    chance = sum(n * second_marginals[value] for value, n in first_marginals.items())
    if chance == total * total:
        return None
    return (total * agreeing - chance) / (total * total - chance)


@dataclass(frozen=True)
class AnnotatorAgreement:
    """One annotator's agreement with the others on the items kept for metrics.

    ``percent_agreement`` is the agreeing share of all rating pairs that
    include this annotator, pooled over items. ``cohen_kappa`` is the mean of
    the defined pair kappas that include this annotator, over ``kappa_pairs``
    pairs.
    """

    annotator_id: str
    items: int
    percent_agreement: float | None
    cohen_kappa: float | None
    kappa_pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "annotator_id": self.annotator_id,
            "items": self.items,
            "percent_agreement": self.percent_agreement,
            "cohen_kappa": self.cohen_kappa,
            "kappa_pairs": self.kappa_pairs,
        }


def annotator_agreement(
    prepared: PreparedRatings, pairwise: PairwiseKappa | None = None
) -> list[AnnotatorAgreement]:
    """Compute each annotator's item count, percent agreement and mean kappa.

    ``pairwise`` is reused when given, and otherwise computed with the default
    minimum of shared items. Annotators are sorted by id.
    """
    if pairwise is None:
        pairwise = cohen_kappa_pairwise(prepared)
    items: Counter[str] = Counter()
    agreeing: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for values in prepared.items.values():
        counts = Counter(values.values())
        for annotator, value in values.items():
            items[annotator] += 1
            agreeing[annotator] += counts[value] - 1
            pairs[annotator] += len(values) - 1

    kappas: dict[str, list[float]] = defaultdict(list)
    for pair in pairwise.pairs:
        if pair.kappa is not None:
            for annotator in pair.annotators:
                kappas[annotator].append(pair.kappa)

    return [
        AnnotatorAgreement(
            annotator_id=annotator,
            items=items[annotator],
            percent_agreement=agreeing[annotator] / pairs[annotator],
            cohen_kappa=_mean(kappas.get(annotator, [])),
            kappa_pairs=len(kappas.get(annotator, [])),
        )
        for annotator in prepared.annotators
    ]


def _mean(numbers: list[float]) -> float | None:
    return math.fsum(numbers) / len(numbers) if numbers else None


@dataclass(frozen=True)
class AgreementReport:
    """Overall and per-annotator agreement with the counts behind them.

    ``items`` counts the items with two or more ratings, and ``ratings`` the
    ratings on them. ``items_excluded`` counts the items with fewer (the
    ``items_all_ignored`` items among them). Undefined metrics are None.
    """

    items: int
    items_excluded: int
    items_all_ignored: int
    annotators: int
    ratings: int
    percent_agreement: float | None
    krippendorff_alpha: float | None
    cohen_kappa: float | None
    kappa_pairs: int
    kappa_pairs_undefined: int
    kappa_pairs_too_few_items: int
    min_shared_items: int
    per_annotator: tuple[AnnotatorAgreement, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON types."""
        return {
            "items": self.items,
            "items_excluded": self.items_excluded,
            "items_all_ignored": self.items_all_ignored,
            "annotators": self.annotators,
            "ratings": self.ratings,
            "percent_agreement": self.percent_agreement,
            "krippendorff_alpha": self.krippendorff_alpha,
            "cohen_kappa": self.cohen_kappa,
            "kappa_pairs": self.kappa_pairs,
            "kappa_pairs_undefined": self.kappa_pairs_undefined,
            "kappa_pairs_too_few_items": self.kappa_pairs_too_few_items,
            "min_shared_items": self.min_shared_items,
            "per_annotator": [entry.to_dict() for entry in self.per_annotator],
        }


def agreement_report(
    ratings: Iterable[Rating] | PreparedRatings,
    min_shared_items: int = DEFAULT_MIN_SHARED_ITEMS,
) -> AgreementReport:
    """Compute every agreement metric over ratings, prepared or not."""
    prepared = _ensure_prepared(ratings)
    pairwise = cohen_kappa_pairwise(prepared, min_shared_items)
    report = AgreementReport(
        items=len(prepared.items),
        items_excluded=prepared.items_excluded,
        items_all_ignored=prepared.items_all_ignored,
        annotators=len(prepared.annotators),
        ratings=prepared.ratings,
        percent_agreement=percent_agreement(prepared),
        krippendorff_alpha=krippendorff_alpha_nominal(prepared),
        cohen_kappa=pairwise.mean,
        kappa_pairs=pairwise.pairs_defined,
        kappa_pairs_undefined=pairwise.pairs_undefined,
        kappa_pairs_too_few_items=pairwise.pairs_too_few_items,
        min_shared_items=min_shared_items,
        per_annotator=tuple(annotator_agreement(prepared, pairwise)),
    )
    logger.debug(
        "Agreement computed on %d items (%d excluded), %d annotators, %d ratings",
        report.items,
        report.items_excluded,
        report.annotators,
        report.ratings,
    )
    return report


def _ensure_prepared(ratings: Iterable[Rating] | PreparedRatings) -> PreparedRatings:
    if isinstance(ratings, PreparedRatings):
        return ratings
    return prepare(ratings)


@dataclass(frozen=True)
class ValueVotes:
    """One distinct value on an item and the annotators who gave it, sorted."""

    value: Hashable
    annotators: tuple[str, ...]


@dataclass(frozen=True)
class ItemVote:
    """The majority vote on one item.

    ``winner`` is the strictly most frequent value, or None on a tie for first
    place. ``share`` is the top count divided by ``ratings``, so it is set on a
    tie too. ``votes`` lists every distinct value, most frequent first, and
    values with equal counts in the order the annotators first answered.
    """

    item: ItemId
    winner: Hashable | None
    share: float
    ratings: int
    gold: bool
    votes: tuple[ValueVotes, ...]


@dataclass(frozen=True)
class VoteResult:
    """Majority votes on every item with at least ``min_ratings`` ratings.

    ``items`` keeps input order. ``items_all_ignored`` counts items on which
    every latest answer was ignore, and ``items_too_few_ratings`` counts items
    with at least one but fewer than ``min_ratings`` ratings. Neither kind is
    in ``items``.
    """

    min_agreement: float
    min_ratings: int
    items: tuple[ItemVote, ...]
    items_all_ignored: int
    items_too_few_ratings: int

    @property
    def gold(self) -> tuple[ItemVote, ...]:
        return tuple(vote for vote in self.items if vote.gold)

    @property
    def conflicts(self) -> tuple[ItemVote, ...]:
        return tuple(vote for vote in self.items if not vote.gold)


def majority_vote(
    ratings: Iterable[Rating] | PreparedRatings,
    min_agreement: float,
    min_ratings: int = 1,
) -> VoteResult:
    """Pick each item's most frequent value and decide whether it goes to gold.

    An item goes to gold when its winner is strictly more frequent than the
    runner-up and the winner's share of the item's ratings is at least
    ``min_agreement``. Every other item is a conflict. Unlike the agreement
    metrics, items with a single rating take part when ``min_ratings`` is 1.
    """
    _validate_vote_settings(min_agreement, min_ratings)
    prepared = _ensure_prepared(ratings)
    votes: list[ItemVote] = []
    too_few = 0
    for item, values in prepared.by_item.items():
        if len(values) < min_ratings:
            too_few += 1
            continue
        votes.append(_vote(item, values, min_agreement))
    return VoteResult(
        min_agreement=min_agreement,
        min_ratings=min_ratings,
        items=tuple(votes),
        items_all_ignored=prepared.items_all_ignored,
        items_too_few_ratings=too_few,
    )


def _validate_vote_settings(min_agreement: float, min_ratings: int) -> None:
    if (
        isinstance(min_agreement, bool)
        or not isinstance(min_agreement, (int, float))
        or not 0 <= min_agreement <= 1
    ):
        raise InvalidInput(
            f"min_agreement must be a number from 0 to 1, got {min_agreement!r}."
        )
    if (
        isinstance(min_ratings, bool)
        or not isinstance(min_ratings, int)
        or min_ratings < 1
    ):
        raise InvalidInput(
            f"min_ratings must be an integer of 1 or more, got {min_ratings!r}."
        )


def _vote(
    item: ItemId, values: Mapping[str, Hashable], min_agreement: float
) -> ItemVote:
    annotators_by_value: dict[Hashable, list[str]] = {}
    for annotator, value in values.items():
        annotators_by_value.setdefault(value, []).append(annotator)
    # sorted() is stable, so equal counts keep first-answer order.
    ranked = sorted(annotators_by_value.items(), key=lambda entry: -len(entry[1]))
    top_count = len(ranked[0][1])
    runner_up_count = len(ranked[1][1]) if len(ranked) > 1 else 0
    strict = top_count > runner_up_count
    share = top_count / len(values)
    return ItemVote(
        item=item,
        winner=ranked[0][0] if strict else None,
        share=share,
        ratings=len(values),
        gold=strict and share >= min_agreement,
        votes=tuple(ValueVotes(value, tuple(sorted(names))) for value, names in ranked),
    )
