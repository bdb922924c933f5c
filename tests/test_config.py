"""Settings precedence and validation: one object, defaults < TOML < environment < flags."""

from pathlib import Path

import pytest

from assistant.config import PACKAGED_RANKING_MODEL, ConfigError, load_settings


def test_defaults_point_at_the_seed_corpus() -> None:
    settings = load_settings(environ={})
    assert settings.corpus_dir.name == "seeds"
    assert settings.mode == "llm"
    assert settings.resolved_store_dir == settings.data_dir / "store"
    assert settings.cache_dir == settings.data_dir / "cache"
    assert settings.ranking_embed_model == PACKAGED_RANKING_MODEL
    assert not settings.ranking_at_index and settings.index_ranking_model is None  # it judges answers only
    assert settings.embed_precision == "auto"


def test_the_model_cache_and_the_ranking_model_can_be_set_apart(tmp_path: Path) -> None:
    """Several data folders may share one model cache; "none" turns the ranking model off."""
    env = {"ASSISTANT_MODEL_CACHE_DIR": str(tmp_path / "models"), "ASSISTANT_RANKING_EMBED_MODEL": "none"}
    toml = tmp_path / "a.toml"
    toml.write_text('ranking_embed_model = "packaged:all-mpnet-base-v2"\n', encoding="utf-8")
    assert load_settings(config_file=toml, environ={}).ranking_embed_model == "packaged:all-mpnet-base-v2"
    settings = load_settings(config_file=toml, environ=env, overrides={"data_dir": tmp_path / "data"})
    assert settings.cache_dir == tmp_path / "models" and settings.resolved_store_dir == tmp_path / "data" / "store"
    assert settings.ranking_embed_model is None
    in_index = load_settings(config_file=toml, environ={"ASSISTANT_RANKING_AT_INDEX": "true"})
    assert in_index.index_ranking_model == "packaged:all-mpnet-base-v2"


def test_precedence_toml_then_env_then_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text('top_k = 3\nmode = "fast"\ncollection = "from_toml"\n', encoding="utf-8")
    env = {"ASSISTANT_TOP_K": "7", "ASSISTANT_COLLECTION": "from_env"}
    settings = load_settings(config_file=toml, environ=env, overrides={"collection": "from_flag", "mode": None})
    assert settings.top_k == 7  # env beats TOML
    assert settings.collection == "from_flag"  # flag beats env
    assert settings.mode == "fast"  # a flag left unset (None) keeps the lower layer


def test_toml_may_use_an_assistant_table(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text('[assistant]\ncandidate_k = 11\n', encoding="utf-8")
    assert load_settings(config_file=toml, environ={}).candidate_k == 11


@pytest.mark.parametrize(("content", "message"), [
    ("no_such_setting = 1\n", "unknown setting 'no_such_setting'"),
    ("top_k = [\n", "not valid TOML"),
    ('top_k = "many"\n', "expected int"),
    ('mode = "creative"\n', "expected 'llm' or 'fast'"),
    ("top_k = 0\n", "at least 1"),
    ("evidence_min_sentences = 0\n", "at least 1"),
    ("evidence_relative_score = 1.5\n", "between 0 and 1"),
    ('embed_precision = "int4"\n', "expected 'auto', 'float32' or 'bfloat16'"),
])
def test_bad_settings_are_refused_with_a_clear_message(tmp_path: Path, content: str, message: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config_file=toml, environ={})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(config_file=tmp_path / "nope.toml", environ={})


def test_calibrated_thresholds_apply_only_to_the_models_they_were_fitted_on(tmp_path: Path) -> None:
    import json

    from assistant.calibration import (
        CALIBRATION_FILE,
        DEFAULT_THRESHOLDS,
        RANKING_IN_INDEX_FILE,
        WITHOUT_RANKING_FILE,
        load_thresholds,
    )

    calibration = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    default = load_thresholds(load_settings(environ={}))
    assert default["fast"] == calibration["min_evidence_score"]["fast"]
    assert default["refusal"] == calibration["llm_refusal_probability"]

    # With the ranking model's vectors in the index the evidence scores differ, and without the ranking model the LLM's
    # refusal is read alone: each has its own calibration, kept beside the default's.
    in_index = json.loads(RANKING_IN_INDEX_FILE.read_text(encoding="utf-8"))
    assert calibration["ranking_embed_model"] == in_index["ranking_embed_model"] == PACKAGED_RANKING_MODEL
    assert in_index["min_evidence_score"]["fast"] != calibration["min_evidence_score"]["fast"]
    indexed = load_thresholds(load_settings(environ={}, overrides={"ranking_at_index": True}))
    assert indexed["fast"] == in_index["min_evidence_score"]["fast"]
    unranked = json.loads(WITHOUT_RANKING_FILE.read_text(encoding="utf-8"))
    assert "ranking_embed_model" not in unranked
    without = load_thresholds(load_settings(environ={}, overrides={"ranking_embed_model": "none"}))
    assert without["fast"] == unranked["min_evidence_score"]["fast"]
    assert without["refusal"] == unranked["llm_refusal_probability"]

    other_embedder = load_thresholds(load_settings(environ={}, overrides={"embed_model": str(tmp_path / "my-model")}))
    assert other_embedder["fast"] == DEFAULT_THRESHOLDS["fast"]  # another model's cosine scores differ
    assert other_embedder["refusal"] == calibration["llm_refusal_probability"]  # same LLM: still calibrated

    own_llm = load_thresholds(load_settings(environ={}, overrides={"llm_model": str(tmp_path / "other.gguf")}))
    endpoint = load_thresholds(load_settings(environ={}, overrides={"llm_endpoint": "http://127.0.0.1:9/v1"}))
    assert own_llm["refusal"] == endpoint["refusal"] == DEFAULT_THRESHOLDS["refusal"]
    assert own_llm["fast"] == calibration["min_evidence_score"]["fast"]


def test_the_ranking_model_is_loaded_before_the_llm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Reading an embedding model's weights briefly holds them twice; beside the mapped LLM that would set the
    process's peak memory, so the LLM property loads the ranking model (which LLM answers read) first."""
    import assistant.llm
    import index.embeddings
    from assistant.components import Components

    loaded: list[str] = []
    monkeypatch.setattr(index.embeddings, "load_configured_embedding", lambda spec, settings: loaded.append(spec))
    monkeypatch.setattr(assistant.llm, "load_llm", lambda settings: loaded.append("llm") or "llm")
    parts = Components(load_settings(environ={}, overrides={"data_dir": tmp_path}))
    assert parts.llm == "llm"
    assert loaded == [PACKAGED_RANKING_MODEL, "llm"]
    without = Components(load_settings(environ={"ASSISTANT_RANKING_EMBED_MODEL": "none"},
                                       overrides={"data_dir": tmp_path}))
    loaded.clear()
    assert without.llm == "llm" and loaded == ["llm"]
