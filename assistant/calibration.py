"""The fitted files the pipeline reads, each used only with the models it was fitted with.

`calibration.json` (written by `python -m bench.abstention_fit fit --write` and `bench.calibrate`) holds the
abstention models per mode, the LLM's refusal threshold and the evidence floors; `passage_scorer.json` the learned
passage score. Scores mean different things for other models, so a file fitted with another embedding model,
ranking model or LLM is not used: the neutral defaults apply (and `bench.calibrate` fits new ones).

Example:
    >>> from assistant.config import load_settings
    >>> sorted(load_thresholds(load_settings(environ={})))
    ['fast', 'llm', 'refusal']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.abstention import AbstentionModel
from assistant.config import Settings
from assistant.passage_scorer import PASSAGE_SCORER_FILE, PassageScorer

# The abstention calibration of the default models (the ranking model used at question time only), and those kept for
# other model choices, tried after it: the ranking model's vectors in the index (`ranking_at_index = true`), and no
# ranking model (`ranking_embed_model = "none"`).
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
RANKING_IN_INDEX_FILE = Path(__file__).with_name("calibration-ranking-in-index.json")
WITHOUT_RANKING_FILE = Path(__file__).with_name("calibration-without-ranking.json")
OTHER_CALIBRATION_FILES = (RANKING_IN_INDEX_FILE, WITHOUT_RANKING_FILE)


def load_thresholds(settings: Settings) -> dict[str, float]:
    """Abstention thresholds from the calibration file written by `python -m bench.calibrate`.

    `fast` / `llm`: minimum best-evidence score per mode; `refusal`: the LLM's probability of starting its reply
    with NOT FOUND at or above which the assistant abstains. Scores mean different things for different models,
    so the evidence thresholds apply only to the embedding model (and ranking model, if any) they were fitted on,
    and the refusal threshold only to that LLM; any other model gets the neutral defaults (recalibrate it with
    `python -m bench.calibrate`).
    """
    thresholds = dict(DEFAULT_THRESHOLDS)
    calibration = load_calibration(settings)
    try:
        if calibration:
            thresholds.update({k: float(v) for k, v in calibration["min_evidence_score"].items()})
        refusal = calibration or _read_calibration(CALIBRATION_FILE)
        if not settings.llm_endpoint and _same_model(refusal.get("llm_model"), settings.llm_model):
            thresholds["refusal"] = float(refusal.get("llm_refusal_probability", thresholds["refusal"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return thresholds


def load_abstention_models(settings: Settings) -> dict[str, AbstentionModel]:
    """The fitted abstention model per mode ("fast", "llm") from the calibration fitted with the configured models
    (its signals mean something else for another embedder or LLM: none is used then, and LLM mode falls back to
    the refusal-probability threshold)."""
    data = load_calibration(settings)
    models: dict[str, AbstentionModel] = {}
    for mode, entry in (data.get("abstention") or {}).items():
        if mode == "llm" and (settings.llm_endpoint or not _same_model(data.get("llm_model"), settings.llm_model)):
            continue
        try:
            models[mode] = AbstentionModel.from_json(entry)
        except (KeyError, TypeError, ValueError):
            continue
    return models


def load_calibration(settings: Settings) -> dict[str, Any]:
    """The calibration fitted with the configured embedding and ranking models: the default file's, else the
    first other file's that matches; {} when none does."""
    for path in (CALIBRATION_FILE, *OTHER_CALIBRATION_FILES):
        data = _read_calibration(path)
        if data and _same_embedders(data, settings):
            return data
    return {}


def _read_calibration(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# Uncalibrated fallbacks: permissive evidence floors (the LLM still refuses on its own) and an even refusal odds.
DEFAULT_THRESHOLDS = {"fast": 0.3, "llm": 0.2, "refusal": 0.5}


def _same_model(calibrated: object, configured: str) -> bool:
    return isinstance(calibrated, str) and calibrated.strip().lower() == configured.strip().lower()


def _same_embedders(calibration: dict[str, Any], settings: Settings) -> bool:
    """Whether the calibration was fitted with the configured embedding model and ranking model (or none), that
    model's vectors in the index or not (`ranking_at_index`; a file that does not say had them there): they shape
    the evidence scores its thresholds and the signals its abstention models read."""
    ranking = calibration.get("ranking_embed_model")
    if not _same_model(calibration.get("embed_model"), settings.embed_model):
        return False
    if not settings.ranking_embed_model:
        return not ranking
    return (_same_model(ranking, settings.ranking_embed_model)
            and bool(calibration.get("ranking_at_index", True)) == settings.ranking_at_index)


def load_passage_scorer(settings: Settings) -> PassageScorer | None:
    """The learned passage score (`assistant.passage_scorer`) when it was fitted with the configured embedding and
    ranking models; None otherwise (none configured, no file, a damaged one, other models), and the linear weights
    order the passages."""
    data = _read_calibration(PASSAGE_SCORER_FILE)
    if not data or not _same_embedders(data, settings):
        return None
    try:
        return PassageScorer.from_dict(data)
    except (ValueError, KeyError, TypeError):
        return None
