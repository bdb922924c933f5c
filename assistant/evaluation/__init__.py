"""Evaluation harness foundation: dataset loaders into one common shape, and pure scoring metrics.

Loaders (`load_eval_set`, `load_squad`, `load_clapnq`, `load_pairs`) turn SQuAD v1.1, ClapNQ and the
project's own pairs files into an `EvalSet`; metrics follow the official SQuAD script so scores are
comparable with published numbers.
"""

from assistant.evaluation.datasets import (
    FORMATS,
    EvalDoc,
    EvalItem,
    EvalSet,
    detect_format,
    load_clapnq,
    load_eval_set,
    load_pairs,
    load_squad,
    safe_name,
    sample,
)
from assistant.evaluation.metrics import (
    contains_any,
    exact_match,
    f1,
    normalize_answer,
    percentile,
    recall_at_k,
    reciprocal_rank,
    rouge_l,
    summarize_latency,
)

__all__ = [
    "FORMATS",
    "EvalDoc",
    "EvalItem",
    "EvalSet",
    "contains_any",
    "detect_format",
    "exact_match",
    "f1",
    "load_clapnq",
    "load_eval_set",
    "load_pairs",
    "load_squad",
    "normalize_answer",
    "percentile",
    "recall_at_k",
    "reciprocal_rank",
    "rouge_l",
    "safe_name",
    "sample",
    "summarize_latency",
]
