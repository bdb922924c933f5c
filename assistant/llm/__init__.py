"""The assistant's LLM: a local GGUF model (default, offline) or any OpenAI-compatible server.

`load_llm(settings)` is the one entry point: with `llm_endpoint` set it returns an `OpenAICompatibleLLM`,
otherwise a `LocalGGUFLLM` over `resolve_gguf(settings.llm_model, settings.cache_dir)` (the packaged
Qwen2.5-Coder-1.5B-Instruct by default). Both are llama-index LLMs (chat, complete, and their streaming
forms). Submodules import lazily, so `import assistant.llm` costs nothing until a model is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from assistant.config import Settings
    from assistant.llm.base import LLMError
    from assistant.llm.gguf import ModelIntegrityError, assemble_packaged_gguf, resolve_gguf
    from assistant.llm.local import LocalGGUFLLM
    from assistant.llm.openai_compat import OpenAICompatibleLLM

_LAZY = {
    "LLMError": "assistant.llm.base",
    "LocalGGUFLLM": "assistant.llm.local",
    "OpenAICompatibleLLM": "assistant.llm.openai_compat",
    "ModelIntegrityError": "assistant.llm.gguf",
    "assemble_packaged_gguf": "assistant.llm.gguf",
    "resolve_gguf": "assistant.llm.gguf",
}

__all__ = [
    "LLMError",
    "LocalGGUFLLM",
    "ModelIntegrityError",
    "OpenAICompatibleLLM",
    "assemble_packaged_gguf",
    "load_llm",
    "resolve_gguf",
]


def __getattr__(name: str) -> Any:
    """Import the public classes and functions on first use (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_llm(settings: Settings) -> LLM:
    """Build the LLM the settings ask for; a local model is loaded (once per process) before returning.

    Raises `ConfigError` (a `ValueError`) for a bad `llm_model`/`llm_endpoint`, `ModelIntegrityError` when
    the packaged model's parts are missing or corrupt, and `LLMError` when the model cannot be loaded.
    """
    if settings.llm_endpoint:
        from assistant.config import ConfigError
        from assistant.llm.openai_compat import OpenAICompatibleLLM

        try:
            return OpenAICompatibleLLM(base_url=settings.llm_endpoint, model=settings.llm_endpoint_model,
                                       api_key=settings.llm_api_key, context_window=settings.llm_context,
                                       max_tokens=settings.llm_max_tokens)
        except ValueError as exc:
            raise ConfigError(f"setting 'llm_endpoint': {exc}") from exc

    from assistant.llm.gguf import resolve_gguf
    from assistant.llm.local import LocalGGUFLLM

    path = resolve_gguf(settings.llm_model, settings.cache_dir)
    return LocalGGUFLLM(model_path=path, n_ctx=settings.llm_context, n_threads=settings.llm_threads,
                        max_tokens=settings.llm_max_tokens, weight_repack=settings.llm_weight_repack)
