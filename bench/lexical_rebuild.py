"""Time and peak memory of rebuilding the BM25 matrix of a lexical index, the step every index run and every catch-up
of another machine's run ends with (`index.lexical.LexicalIndex`).

    python -m bench.lexical_rebuild FOLDER [--compare OTHER]

FOLDER is a lexical folder of a data directory (`<data_dir>/lexical/<collection hash>/`, holding tokens.sqlite3),
for example the one `python -m bench.scale --sizes 50000` leaves. Its table is copied to a temporary folder and the
matrix rebuilt there in this process: seconds, and peak RSS above what the process held before. With `--compare`,
a folder holding another rebuild: whether both give the same top 20 for SQuAD-even's first 300 questions.

Example:
    $ .venv/bin/python -m bench.lexical_rebuild .data/scale/data-50000/lexical/ffe8ca7d9d509c74
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from index.lexical import LexicalIndex


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--compare", type=Path, help="a folder with another rebuild of the same table")
    parser.add_argument("--keep", type=Path, help="rebuild here instead of a temporary folder, and keep it")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="lexical-rebuild-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.folder / "tokens.sqlite3", work / "tokens.sqlite3")
    index = LexicalIndex(work)
    before = peak_mib()
    started = time.perf_counter()
    index._save(1)
    seconds = time.perf_counter() - started
    figures = {"seconds": round(seconds, 1), "peak_rss_over_start_mib": round(peak_mib() - before)}
    if args.compare:
        from assistant.evaluation.datasets import load_squad
        from assistant.evaluation.runner import default_eval_dir

        index._load(1)
        other = LexicalIndex(args.compare)
        saved = other._saved_generation()
        if saved is None:
            raise SystemExit(f"{args.compare} holds no saved BM25 index to compare with")
        other._load(saved)
        squad = default_eval_dir() / "squad_v1.1_dev" / "squad-dev-v1.1-even-articles.json"
        questions = [item.question for item in load_squad(squad).items[:300]]
        figures["same_top20"] = f"{sum(index.search(q, 20) == other.search(q, 20) for q in questions)}/300"
    print(json.dumps(figures))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
