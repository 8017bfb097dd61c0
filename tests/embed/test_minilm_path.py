"""``embed.minilm.model_path``: any local sentence-transformers folder, or one clear error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import ROOT
from techscreen.cli import main
from techscreen.config import EmbedSettings, Int8Settings, MiniLMSettings, StaticSettings
from techscreen.embed.minilm import MiniLMEmbedder, packaged_minilm
from techscreen.embed.models import build
from techscreen.embed.registry import make_embedder


def test_missing_path_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "multilingual-minilm"
    e = make_embedder(EmbedSettings(minilm=MiniLMSettings(model_path=str(missing))))
    for attempt in (lambda: e.embedder_id, e.load):
        with pytest.raises(FileNotFoundError) as info:
            attempt()
        message = str(info.value)
        assert str(missing) in message and "does not exist" in message
        assert "\n" not in message


def test_folder_without_a_model_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model folder"):
        MiniLMEmbedder(model_path=str(tmp_path)).load()


def test_builds_from_a_missing_source_fail_the_same_way(tmp_path):
    settings = EmbedSettings(
        minilm=MiniLMSettings(model_path=str(tmp_path / "gone")),
        int8=Int8Settings(path=str(tmp_path / "int8")),
        static=StaticSettings(path=str(tmp_path / "static"), fit_corpus=""),
    )
    for kind in ("minilm-int8", "static"):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            build(kind, settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-built


def test_cli_exits_with_the_one_line_error(tmp_path, capsys):
    missing = tmp_path / "gone"
    code = main(
        [
            "models",
            "build-int8",
            "--conf-dir",
            str(ROOT / "conf"),
            "--set",
            f"embed.minilm.model_path={missing}",
            "--set",
            f"embed.int8.path={tmp_path / 'int8'}",
            "--set",
            f"paths.writable=[{ROOT / 'models'}, {tmp_path}]",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert str(missing) in err[-1] and "does not exist" in err[-1]


def test_a_local_copy_loads_and_embeds_like_the_packaged_model(tmp_path):
    folder = tmp_path / "my-model"
    shutil.copytree(packaged_minilm(), folder)
    local = MiniLMEmbedder(model_path=str(folder), device="cpu").load()
    packaged = MiniLMEmbedder(device="cpu").load()
    # same files, same fingerprint: vectors from either are the same embedder's
    assert local.embedder_id == packaged.embedder_id
    texts = ["A heat exchanger for waste heat recovery.", "一种余热回收装置"]
    assert np.allclose(local.encode(texts), packaged.encode(texts), atol=1e-5)
    assert local.get_params()["model_path"] == str(folder)
