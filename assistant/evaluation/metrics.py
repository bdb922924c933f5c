"""Pure scoring functions for the evaluation harness.

Answer metrics follow the official SQuAD v1.1 evaluation script (Rajpurkar et al., 2016) so numbers are
comparable with published ones: answers are normalised (lower case, no punctuation, no articles, single
spaces) and a prediction is scored against every ground truth, keeping the best. ROUGE-L (Lin, 2004) scores
long, free-form answers such as ClapNQ's. Retrieval metrics (recall@k, reciprocal rank) and latency summaries
complete the set. Everything here is deterministic and free of I/O, so it is cheap to test exhaustively.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = [
    "contains_any",
    "exact_match",
    "f1",
    "normalize_answer",
    "percentile",
    "reciprocal_rank",
    "recall_at_k",
    "rouge_l",
    "summarize_latency",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower-case, drop ASCII punctuation and the articles a/an/the, and collapse whitespace.

    This is exactly `normalize_answer` of the official SQuAD v1.1 script (same steps, same order), so
    "The Turin!" and "turin" compare equal.
    """
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(s: str) -> list[str]:
    return normalize_answer(s).split()


def _as_list(ground_truths: str | Iterable[str]) -> list[str]:
    # A bare string is one ground truth, not a sequence of one-character truths.
    return [ground_truths] if isinstance(ground_truths, str) else list(ground_truths)


def exact_match(prediction: str, ground_truths: str | Iterable[str]) -> float:
    """1.0 when the normalised prediction equals any normalised ground truth, else 0.0 (SQuAD EM).

    With no ground truths (an unanswerable item) the only right answer is the empty one, as in the
    SQuAD 2.0 script: an empty prediction scores 1.0, anything else 0.0.
    """
    truths = _as_list(ground_truths) or [""]
    pred = normalize_answer(prediction)
    return max(float(pred == normalize_answer(truth)) for truth in truths)


def _f1_single(prediction: str, ground_truth: str) -> float:
    pred_tokens = _tokens(prediction)
    truth_tokens = _tokens(ground_truth)
    if not pred_tokens or not truth_tokens:
        # Both empty: a correct abstention. One empty: no overlap is possible (SQuAD 2.0 convention).
        return float(pred_tokens == truth_tokens)
    common = Counter(pred_tokens) & Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, ground_truths: str | Iterable[str]) -> float:
    """Token-level F1 between prediction and the best-matching ground truth (SQuAD F1).

    Tokens are the whitespace-split normalised answer; overlap counts repeated tokens at most as often as
    they occur in both (multiset intersection). No ground truths behaves as for `exact_match`.
    """
    truths = _as_list(ground_truths) or [""]
    return max(_f1_single(prediction, truth) for truth in truths)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, in O(len(a) * len(b)) time and O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0] * (len(b) + 1)
        for j, token_b in enumerate(b, start=1):
            if token_a == token_b:
                current[j] = previous[j - 1] + 1
            else:
                current[j] = max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1): harmonic mean of LCS precision and recall over normalised tokens.

    Suited to long answers where word order matters but wording varies. Two empty answers score 1.0,
    one empty answer 0.0. For several references take the max, as the SQuAD metrics do.
    """
    pred_tokens = _tokens(prediction)
    ref_tokens = _tokens(reference)
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    lcs = _lcs_length(pred_tokens, ref_tokens)
    if lcs == 0:
        return 0.0
    precision = lcs / len(pred_tokens)
    recall = lcs / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def recall_at_k(ranked_ids: Sequence[str], gold_ids: Iterable[str], k: int) -> float:
    """1.0 when any gold id is among the first k ranked ids, else 0.0 (hit rate at k).

    Items without gold ids (unanswerable) score 0.0; leave them out of retrieval averages.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    gold = set(gold_ids)
    return float(any(ranked in gold for ranked in ranked_ids[:k]))


def reciprocal_rank(ranked_ids: Sequence[str], gold_ids: Iterable[str]) -> float:
    """1 / (1-based position of the first gold id in ranked_ids), or 0.0 when none is ranked.

    Positions count the list as given: deduplicate chunk-level ids to documents first if document rank is
    what should be measured. Averaged over items this is the mean reciprocal rank (MRR).
    """
    gold = set(gold_ids)
    for position, ranked in enumerate(ranked_ids, start=1):
        if ranked in gold:
            return 1.0 / position
    return 0.0


def contains_normalized(text: str, golds: Iterable[str]) -> bool:
    """True when `text` holds one of `golds` as whole words, both normalised as the SQuAD evaluation does (the SQuAD
    format's correctness rule; empty golds match nothing)."""
    haystack = f" {normalize_answer(text)} "
    return any(normalize_answer(g) and f" {normalize_answer(g)} " in haystack for g in golds)


def contains_any(answer: str, any_strings: Iterable[str]) -> bool:
    """True when the answer contains any of the strings, ignoring case (the pairs-format correctness rule).

    Empty strings are ignored (they would match every answer); no strings at all gives False.
    """
    haystack = answer.casefold()
    return any(needle and needle.casefold() in haystack for needle in any_strings)


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation between closest ranks.

    Same definition as numpy.percentile's default ("linear"), without needing numpy.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sequence is undefined")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate `successes / trials` (95 % with the default z): the range of true rates
    that a sample this size is consistent with. A rate over 75 questions, say, cannot tell apart two systems closer
    than about a tenth; report the interval next to the rate.

    >>> wilson_interval(55, 75)
    (0.624, 0.82)
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes} / {trials}")
    rate, z2 = successes / trials, z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3)


def summarize_latency(ms_list: Iterable[float]) -> dict[str, float]:
    """Median, 95th percentile and mean of latencies in milliseconds.

    An empty list gives NaN for every statistic rather than raising, so a run with no timed items still
    produces a report.
    """
    values = [float(v) for v in ms_list]
    if not values:
        return {"median_ms": math.nan, "p95_ms": math.nan, "mean_ms": math.nan}
    return {
        "median_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "mean_ms": sum(values) / len(values),
    }
