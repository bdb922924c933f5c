"""Shared fixtures: real models loaded once per session, a real Chroma store built from a copy of the seeds.

Nothing here mocks the vector store or the models: the end-to-end tests exercise exactly what a user runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ASSISTANT_NO_PROGRESS", "1")

REPO = Path(__file__).resolve().parent.parent
# The packaged models are assembled and unpacked once into the project's cache, shared by every test's data folder
# (and by the app), so that no test assembles the 1 GB LLM (or unpacks a 400 MB zip-split model) again.
MODEL_CACHE = REPO / ".data" / "cache"
os.environ.setdefault("ASSISTANT_MODEL_CACHE_DIR", str(MODEL_CACHE))
# The tests of mechanics (indexing, the CLI, reliability, the Chroma server, the evaluation floors) run without the
# ranking model, which costs about 10 s per index of the seeds on 2 cores; the end-to-end quality tests (seed_settings:
# the seed pairs, citations, abstention, conversation) use the shipped defaults, ranking model included.
os.environ.setdefault("ASSISTANT_RANKING_EMBED_MODEL", "none")
TEST_SETTINGS = {"model_cache_dir": MODEL_CACHE, "ranking_embed_model": "none"}  # the two above, for load_settings

import assistant  # noqa: E402,F401  (offline switches)
from assistant.config import PACKAGED_RANKING_MODEL, Settings, load_settings  # noqa: E402

SEEDS = REPO / "seeds"
SEED_DOC_A = "000_ba464c03508296b8.txt"
SEED_DOC_B = "004_e31eb55d49d7f6ac.txt"


# A test is end-to-end (marker "e2e") when it asks for a loaded model or an index built with one, lives in a module
# whose tests start the app, a server, a browser, a compiler or a model in their own way, or is marked e2e itself
# (a slow computation); every other test is a unit test (marker "unit", `make check`), which must stay fast.
MODEL_FIXTURES = frozenset({"embed_model", "llm", "ranking_model", "seed_assistant", "seed_settings"})
E2E_MODULES = frozenset({"test_browser", "test_chroma_server", "test_kill_index", "test_native_build", "test_ui",
                         "test_seed_eval", "test_cli", "test_reliability", "test_indexer", "test_eval_runner",
                         "test_embeddings", "test_llm", "test_answer_ceiling", "test_rerank", "test_index_safety",
                         "test_ui_resilience"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        e2e = (module in E2E_MODULES or bool(MODEL_FIXTURES & set(getattr(item, "fixturenames", ())))
               or item.get_closest_marker("e2e") is not None)  # a slow test may say so itself
        if not e2e:
            item.add_marker(pytest.mark.unit)
        elif item.get_closest_marker("e2e") is None:
            item.add_marker(pytest.mark.e2e)


def make_settings(tmp: Path, corpus: Path | None = None, **overrides: Any) -> Settings:
    """Settings pointing at a private corpus copy and data folder, never at the user's .data/."""
    if corpus is None:
        corpus = tmp / "corpus"
        shutil.copytree(SEEDS, corpus)
    return load_settings(overrides={"corpus_dir": corpus, "data_dir": tmp / "data", **TEST_SETTINGS,
                                    **overrides}, environ={})


@pytest.fixture(scope="session")
def embed_model() -> Any:
    from index.embeddings import load_embedding

    return load_embedding("packaged:all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def llm() -> Any:
    from assistant.llm import load_llm

    return load_llm(load_settings(environ={}))


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shipped defaults (ranking model included) over a copy of the seeds."""
    return make_settings(tmp_path_factory.mktemp("seed"), ranking_embed_model=PACKAGED_RANKING_MODEL)


@pytest.fixture(scope="session")
def ranking_model() -> Any:
    """The shipped ranking model (all-mpnet-base-v2), loaded once for the end-to-end tests."""
    from index.embeddings import load_embedding

    return load_embedding(PACKAGED_RANKING_MODEL, cache_dir=MODEL_CACHE)


@pytest.fixture(scope="session")
def seed_assistant(seed_settings: Settings, embed_model: Any, ranking_model: Any, llm: Any) -> Iterator[Any]:
    """The full pipeline (LLM mode by default) over an index of the two seed articles."""
    from assistant.pipeline import Assistant

    bot = Assistant(seed_settings, embed_model=embed_model, llm=llm, ranking_model=ranking_model)
    bot.index()
    yield bot


def sibling(bot: Any, settings: Settings | None = None, **parts: Any) -> Any:
    """A new Assistant over `bot`'s settings (or `settings`) that shares its loaded models; `parts` replace some
    (llm=..., cross_encoder=...). What a test builds to try one part against the real index and models."""
    from assistant.pipeline import Assistant

    return Assistant(settings or bot.settings, **{"embed_model": bot.embed_model, "ranking_model": bot.ranking_model,
                                                  **parts})
