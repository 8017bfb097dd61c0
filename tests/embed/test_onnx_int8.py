"""minilm-int8: build once per module, then compare with the fp32 MiniLM embedder."""

from __future__ import annotations

import json
import logging
import pickle
import time

import numpy as np
import pytest

from techscreen.embed.minilm import MiniLMEmbedder
from techscreen.embed.onnx_int8 import CARD_JSON, CARD_MD, REBUILD, OnnxInt8Embedder, build_int8

log = logging.getLogger(__name__)

ENGLISH = [
    (
        "A lithium-ion battery cathode comprising a nickel-rich layered oxide coated with "
        "lithium phosphate to suppress electrolyte decomposition."
    ),
    (
        "A method for manufacturing a solid-state electrolyte by sintering a garnet-type "
        "lithium lanthanum zirconium oxide powder at reduced temperature."
    ),
    (
        "A photovoltaic module with bifacial perovskite-silicon tandem cells and an "
        "encapsulant that blocks ultraviolet light."
    ),
    (
        "A wind turbine blade having a carbon fibre spar cap and a lightning protection system"
        " embedded in the trailing edge."
    ),
    (
        "A hydrogen fuel cell stack with a bipolar plate formed from coated stainless steel "
        "and a flow field that reduces water flooding."
    ),
    (
        "An electrolyser using an anion exchange membrane and nickel-iron catalysts for low-"
        "cost hydrogen production."
    ),
    (
        "A semiconductor device including a gate-all-around transistor with stacked silicon "
        "nanosheets and a high-k metal gate."
    ),
    (
        "A method of extreme ultraviolet lithography in which a pellicle protects the "
        "photomask from particle contamination."
    ),
    (
        "A chip package in which a high-bandwidth memory stack is bonded to a logic die "
        "through hybrid copper bonding."
    ),
    (
        "A gallium nitride power transistor with a p-type gate for normally-off operation in "
        "fast chargers."
    ),
    (
        "A quantum computing device comprising superconducting transmon qubits coupled through"
        " a tunable coupler."
    ),
    (
        "A method of error correction for a surface code using real-time decoding on a field-"
        "programmable gate array."
    ),
    (
        "A trapped-ion quantum processor in which laser beams are steered by acousto-optic "
        "deflectors to address individual ions."
    ),
    (
        "A neural network accelerator with a systolic array of multiply-accumulate units "
        "operating on eight-bit integers."
    ),
    (
        "A method of training a large language model with mixed-precision arithmetic and "
        "gradient checkpointing to reduce memory."
    ),
    (
        "A computer vision system that detects defects on a printed circuit board using a "
        "convolutional neural network."
    ),
    (
        "A recommendation engine that ranks items by combining collaborative filtering with a "
        "transformer-based sequence model."
    ),
    (
        "An unmanned aerial vehicle with foldable arms, a gimbal-stabilised camera and "
        "obstacle avoidance using stereo vision."
    ),
    (
        "A hypersonic vehicle with a scramjet engine and a thermal protection system made of "
        "ultra-high-temperature ceramics."
    ),
    (
        "A satellite constellation in low earth orbit with optical inter-satellite links for "
        "global broadband coverage."
    ),
    (
        "A rocket engine injector produced by additive manufacturing of a nickel superalloy "
        "with internal cooling channels."
    ),
    (
        "A radar system using a phased array antenna with gallium nitride transmit-receive "
        "modules for target tracking."
    ),
    (
        "A gene editing composition comprising a Cas9 nuclease and a guide RNA targeting a "
        "mutation in the beta-globin gene."
    ),
    (
        "A messenger RNA vaccine encapsulated in lipid nanoparticles containing an ionisable "
        "cationic lipid."
    ),
    (
        "A method of producing a monoclonal antibody in Chinese hamster ovary cells with a "
        "perfusion bioreactor."
    ),
    (
        "A diagnostic assay that detects circulating tumour DNA by next-generation sequencing "
        "with unique molecular identifiers."
    ),
    (
        "An implantable brain-computer interface with flexible microelectrode threads inserted"
        " by a surgical robot."
    ),
    (
        "A synthetic biology platform that engineers yeast to produce a cannabinoid precursor "
        "from sugar."
    ),
    (
        "A cryptographic module implementing lattice-based post-quantum key encapsulation "
        "resistant to side-channel attacks."
    ),
    (
        "A method for secure multi-party computation in which parties jointly compute a "
        "function without revealing their inputs."
    ),
    (
        "A network intrusion detection system that classifies encrypted traffic using flow "
        "statistics and machine learning."
    ),
    (
        "A 5G base station with massive MIMO beamforming and a digital front end implemented "
        "on an ASIC."
    ),
    (
        "An optical transceiver using silicon photonics and coherent modulation at 800 "
        "gigabits per second."
    ),
    "A fibre laser with a large mode area ytterbium-doped fibre for high-power industrial cutting.",
    (
        "A method of growing silicon carbide single crystals by physical vapour transport with"
        " reduced micropipe density."
    ),
    (
        "A permanent magnet containing neodymium, iron and boron with grain boundary diffusion"
        " of dysprosium for high coercivity."
    ),
    (
        "A process for recovering rare earth elements from magnet scrap by selective leaching "
        "and solvent extraction."
    ),
    (
        "A carbon capture process using an amine solvent and a heat-integrated stripper to "
        "reduce regeneration energy."
    ),
    (
        "A small modular nuclear reactor with passive cooling by natural circulation and a "
        "helical steam generator."
    ),
    (
        "A tokamak fusion device with high-temperature superconducting magnets made of rare-"
        "earth barium copper oxide tape."
    ),
    (
        "An autonomous driving system that fuses lidar, radar and camera data to predict the "
        "trajectories of pedestrians."
    ),
    (
        "A battery management system estimating the state of charge of each cell with an "
        "extended Kalman filter."
    ),
    (
        "An electric vehicle inverter with silicon carbide MOSFETs and a double-sided cooled "
        "power module."
    ),
    (
        "A robotic arm with harmonic drive reducers and torque sensors in every joint for safe"
        " collaboration with humans."
    ),
    (
        "A humanoid robot that learns manipulation skills from human video demonstrations "
        "using imitation learning."
    ),
    "A coffee machine with a milk frothing wand and a removable water tank.",
    "A folding bicycle with a quick-release hinge and an integrated lock.",
    "A shoe sole with air cushions that improve comfort during running.",
    "A kitchen knife with a ceramic blade and an ergonomic handle.",
    "A toothbrush with a pressure sensor that warns the user of excessive brushing force.",
]

CHINESE = [
    "一种锂离子电池正极材料及其制备方法，包括高镍层状氧化物和磷酸锂包覆层。",
    "一种基于超导量子比特的量子计算装置，包括可调耦合器。",
    "一种无人机避障方法，利用双目视觉进行障碍物检测。",
    "一种碳化硅单晶生长方法，采用物理气相传输法降低微管密度。",
]


# Four phrasings of every sentence: about 200 texts whose neighbourhoods have structure (the
# other phrasings first, then related technologies) for the top-10 overlap.
VARIANTS = [
    "{}",
    "The invention relates to {}",
    "What is claimed is: 1. {} 2. The device of claim 1, wherein the method is automated.",
    "{} The disclosed embodiments reduce cost and improve reliability in mass production.",
]


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:]


CORPUS = [
    template.format(_lower_first(s) if template.startswith("The invention") else s)
    for s in ENGLISH
    for template in VARIANTS
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    started = time.perf_counter()
    folder = build_int8(tmp_path_factory.mktemp("int8") / "minilm-int8")
    log.warning("build_int8 took %.0f s", time.perf_counter() - started)
    return folder


@pytest.fixture(scope="module")
def int8(model_dir):
    return OnnxInt8Embedder(path=str(model_dir), threads=2).load()


@pytest.fixture(scope="module")
def fp32():
    return MiniLMEmbedder(device="cpu").load()


def test_model_card(model_dir):
    card = json.loads((model_dir / CARD_JSON).read_text())
    assert card["kind"] == "minilm-int8"
    assert card["source_name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(card["source_fingerprint"]) == 64
    assert card["opset"] == 17
    assert card["quantisation"]["per_channel"] is True
    assert card["quantisation"]["weight_type"] == "QInt8"
    assert "MatMul" in card["quantisation"]["quantised_ops"]
    assert card["versions"]["onnxruntime"]
    assert card["build_date"]
    assert card["cosine_vs_fp32"]["mean"] >= 0.98
    assert card["rebuild"] == REBUILD
    markdown = (model_dir / CARD_MD).read_text()
    assert REBUILD in markdown and "onnxruntime" in markdown
    assert (model_dir / "tokenizer.json").is_file()
    # The build is atomic: nothing but the model folder is left next to it.
    assert [p.name for p in model_dir.parent.iterdir()] == [model_dir.name]


def test_dim_and_vectors(int8):
    assert int8.dim == 384
    vectors = int8.encode(ENGLISH[:10])
    assert vectors.shape == (10, 384)
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert int8.encode([]).shape == (0, 384)


def test_cosine_against_fp32(int8, fp32):
    cosines = (int8.encode(ENGLISH) * fp32.encode(ENGLISH)).sum(axis=1)
    chinese = (int8.encode(CHINESE) * fp32.encode(CHINESE)).sum(axis=1)
    log.warning(
        "cosine int8 vs fp32: English mean %.4f min %.4f; Chinese mean %.4f min %.4f",
        cosines.mean(),
        cosines.min(),
        chinese.mean(),
        chinese.min(),
    )
    assert cosines.mean() >= 0.99
    assert cosines.min() >= 0.97
    assert chinese.mean() >= 0.95  # reported, not a target: MiniLM barely knows Chinese


def _top10(vectors: np.ndarray) -> np.ndarray:
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1)[:, :10]


def test_top10_neighbours_agree_with_fp32(int8, fp32):
    assert len(CORPUS) == 200
    ours, theirs = _top10(int8.encode(CORPUS)), _top10(fp32.encode(CORPUS))
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ours, theirs, strict=True)])
    log.warning("top-10 neighbour overlap int8 vs fp32: %.3f", overlap)
    assert overlap >= 0.9


def test_awkward_texts_give_finite_vectors(int8):
    huge = "A semiconductor wafer is polished before lithography. " * 19000  # ~1 MB
    texts = [
        "一种基于超导量子比特的量子计算装置",
        "?!... ;;; ---",
        huge,
        "valve\x00\x07\x1b[31m\tstem\r\n",
        " ",
    ]
    assert len(huge.encode()) > 1_000_000
    vectors = int8.encode(texts)
    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()
    counts = int8.token_counts(texts)
    assert counts[2] > int8.max_tokens  # counted before truncation
    assert counts[4] == 2  # [CLS] [SEP] only


def test_token_counts_match_fp32(int8, fp32):
    texts = [*ENGLISH[:5], *CHINESE, "x " * 600]
    np.testing.assert_array_equal(int8.token_counts(texts), fp32.token_counts(texts))


def test_pickles_before_load_and_params(model_dir):
    embedder = OnnxInt8Embedder(path=str(model_dir), threads=1, max_tokens=128, batch_size=8)
    clone = pickle.loads(pickle.dumps(embedder))
    assert clone.get_params() == {
        "kind": "minilm-int8",
        "max_tokens": 128,
        "batch_size": 8,
        "path": str(model_dir),
        "threads": 1,
    }
    assert clone.load().encode(["a gas turbine blade"]).shape == (1, 384)


def test_embedder_id_differs_from_fp32(int8, fp32):
    assert int8.embedder_id.startswith("minilm-int8-")
    assert int8.embedder_id != fp32.embedder_id
    assert int8.embedder_id == OnnxInt8Embedder(path=int8.path).embedder_id


def test_missing_model_names_the_build_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="techscreen models build-int8"):
        OnnxInt8Embedder(path=str(tmp_path / "absent")).load()
