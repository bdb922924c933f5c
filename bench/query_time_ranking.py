"""Replay: the ranking model's abstention signal computed at question time, on records made without it.

Records made with `ASSISTANT_RANKING_EMBED_MODEL=none` (`python -m bench.abstention_fit record`) hold no vectors of
the ranking model: indexing without it runs near the main model's speed. The abstention signal it gives
("ranking_clause": its best cosine between the question and the cited sentence or that sentence's clause best by the
main model, as `assistant.deciding` computes it) needs only a few short texts embedded per answer, so it could be
computed when the question is asked instead. This script adds it to each record (three or four short embeddings an
answer) and writes the records again, for `python -m bench.abstention_fit fit --records OUT` to fit and replay.

Usage:
    python -m bench.query_time_ranking RECORDS OUT
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import PACKAGED_RANKING_MODEL, load_settings
from assistant.text import clauses
from index.embeddings import load_embedding


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / max(float(np.linalg.norm(array)), 1e-12)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    settings = load_settings()
    main_model = load_embedding(settings.embed_model, cache_dir=settings.cache_dir)
    ranking = load_embedding(PACKAGED_RANKING_MODEL, cache_dir=settings.cache_dir)
    for path in sorted(args.records.glob("*/results.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data["items"]:
            signals = (item.get("extra") or {}).get("signals")
            if not signals:
                continue
            if not item.get("citations"):
                signals["ranking_cited"] = signals["ranking_clause"] = 0.0
                continue
            question = item.get("standalone_question") or item["question"]
            quote = item["citations"][0]["quote"]
            asked = unit(ranking.get_query_embedding(question))
            sentence = float(unit(ranking.get_text_embedding(quote)) @ asked)
            parts = clauses(quote)
            clause = 0.0
            if parts:  # the clause the main model finds best, as the pipeline picks it
                by_main = np.asarray(main_model.get_text_embedding_batch(parts), dtype=np.float32)
                by_main /= np.maximum(np.linalg.norm(by_main, axis=1, keepdims=True), 1e-12)
                best = parts[int(np.argmax(by_main @ unit(main_model.get_query_embedding(question))))]
                clause = float(unit(ranking.get_text_embedding(best)) @ asked)
            signals["ranking_cited"], signals["ranking_clause"] = sentence, max(sentence, clause)
        out = args.out / path.parent.name / "results.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data), encoding="utf-8")
        print(path.parent.name, len(data["items"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
