"""Keep every library offline and quiet before it is imported.

The assistant must never hang on the network: Hugging Face hub look-ups retry for minutes, Chroma and Gradio send
telemetry, and tiktoken downloads its vocabularies unless pointed at the copy llama-index ships. Calling
`ensure_offline()` first thing (the package does it on import) sets the switches; a user who really wants the hub
can still export HF_HUB_OFFLINE=0 beforehand, since existing values are kept.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TRANSFORMERS_VERBOSITY": "error",  # no "Loading weights" bars on every start
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # avoids fork warnings and oversubscription on 2 cores
}


def _bundled_tiktoken_cache() -> str | None:
    """The tiktoken cache shipped inside llama-index-core, found without importing llama-index."""
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    cache = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    return str(cache) if cache.is_dir() else None


def ensure_offline() -> None:
    """Set the offline/telemetry environment switches unless the user already chose a value.

    NLTK_DATA is deliberately left alone: setting it hides the punkt data bundled with llama-index and
    triggers a download.
    """
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        cache = _bundled_tiktoken_cache()
        if cache:
            os.environ["TIKTOKEN_CACHE_DIR"] = cache
