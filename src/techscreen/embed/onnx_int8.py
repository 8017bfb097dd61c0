"""``minilm-int8``: all-MiniLM-L6-v2 exported to ONNX with int8 weights, run by onnxruntime on CPU.

:func:`build_int8` turns the packaged sentence-transformers folder into ``models/minilm-int8``
(``techscreen models build-int8``); :class:`OnnxInt8Embedder` embeds with it.

How the model is built, and why:

1. ``transformers.AutoModel`` loads the BERT encoder of the sentence-transformers folder with
   *eager* attention: tracing the SDPA path turns decisions on the mask into Python
   constants (a TracerWarning on ``is_causal``), so eager attention plus a padded example
   batch keeps the mask a live graph input. The export is checked against torch on a longer,
   differently padded batch (that check caught the exporter leaving the model in training
   mode, dropout on, when the wrapper module was not put in ``eval()`` itself).
2. ``torch.onnx.export`` (TorchScript exporter, ``dynamo=False``: the dynamo exporter needs
   ``onnxscript``, which is not installed), opset 17, inputs ``input_ids``, ``attention_mask``,
   ``token_type_ids``, dynamic batch and sequence axes, output ``last_hidden_state``. Mean
   pooling (the packaged model's ``1_Pooling`` config) is done in numpy.
3. onnxruntime's transformer optimiser fuses the graph (``EmbedLayerNormalization``, 6
   ``Attention``, 12 ``SkipLayerNormalization``, 6 ``BiasGelu``).
4. ``quantize_dynamic``: int8 weights, per-channel, on the ``MatMul`` nodes. After fusion the
   query/key/value projections live inside the ``Attention`` nodes, so ``MatMul`` also
   quantises ``Attention`` (it was a MatMul before fusion): the setting keeps meaning "the
   linear layers". ``quant_pre_process`` (onnxruntime's shape inference + optimisation) was
   tried: symbolic shape inference fails on this graph ("Incomplete symbolic shape
   inference") and, without it, it changed neither cosine nor speed, so it is not used.

Variants measured on the build machine (2-core AMD EPYC with AVX2 but *no* AVX-512/VNNI,
shared with other jobs, so timings are noisy: best of 4-5 interleaved rounds, 64 texts of
150-200 words, batch 64, 256 tokens, 2 threads). Cosine is against the fp32
sentence-transformers model: mean over the tests' 50 English patent sentences / 4 Chinese /
128 long texts; top-10 is the neighbour overlap with fp32 on the tests' 200 texts:

==============================  =====================  ======  ===========
variant                         cosine en / zh / long  top-10  int8 ÷ fp32
==============================  =====================  ======  ===========
ORT fp32, unfused               1.000                  1.000   0.8×
ORT fp32, fused                 1.000                  1.000   0.85-1.0×
default quantize_dynamic        0.956 / 0.915 / 0.861  0.842   1.3×
MatMul, per-tensor              0.956 / 0.915 / 0.861  -       1.2×
MatMul, per-channel             0.992 / 0.985 / 0.988  0.914   1.3-1.4×
+ reduce_range                  0.991 / 0.985 / 0.984  -       1.4×
pre-processed + per-channel     0.992 / 0.985 / 0.988  -       1.4×
fused, MatMul per-channel       0.994 / 0.986 / 0.990  0.920   1.5-1.85×
fused, +Attention, per-channel  0.992 / 0.985 / 0.988  0.906   1.6-2.1×
fused, +Attention, reduce_rng.  0.991 / 0.985 / 0.984  0.913   1.5-2.2×
fused, +Attention, per-tensor   0.956 / 0.915 / 0.861  -       2.2×
==============================  =====================  ======  ===========

The chosen build is "fused, +Attention, per-channel": the fastest variant that meets the
quality targets (mean cosine ≥ 0.99, top-10 overlap ≥ 0.9, the latter with little margin).
On 300 texts of 150-200 words through the embedders (batch 64, 2 threads) it gave 13.6 vs
7.6 docs/s best (1.8×; median 11.6 vs 6.4). An onnxruntime profile puts 82% of its time in
the int8 GEMMs (DynamicQuantizeMatMul 48%, QAttention 34%) and 17% in SkipLayerNorm/BiasGelu.

Per-tensor scales are what lose quality (cosine 0.86 on long texts); per-channel scales fix
it. ``reduce_range`` (7-bit weights, advised by onnxruntime for CPUs without VNNI) bought no
reliable speed here and costs cosine, so it is off. The 2.5× target was not reached on this
CPU: without VNNI the int8 GEMM kernels have no native u8·s8 dot product.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from techscreen.embed.base import FolderEmbedder, files_fingerprint
from techscreen.embed.threads import task_cpus
from techscreen.io.files import replace_dir, staging_dir

logger = logging.getLogger(__name__)

KIND = "minilm-int8"
MODEL_FILE = "model.onnx"
CARD_JSON = "card.json"
CARD_MD = "MODEL_CARD.md"
REBUILD = "techscreen models build-int8"
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# What the tokenizer needs (tokenizer.json is what is loaded; the rest documents it) and the
# pooling config, kept so the folder says how its vectors are pooled.
_COPIED = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "1_Pooling/config.json",
)
# Fixed texts whose fp32-vs-int8 cosine goes into the model card: a build that drifts shows
# up there without running the test suite.
CARD_TEXTS = (
    "A lithium-ion battery cathode comprising a nickel-rich layered oxide coated with lithium "
    "phosphate to suppress electrolyte decomposition.",
    "A semiconductor device including a gate-all-around transistor with stacked silicon "
    "nanosheets and a high-k metal gate.",
    "A quantum computing device comprising superconducting transmon qubits coupled through a "
    "tunable coupler.",
    "A neural network accelerator with a systolic array of multiply-accumulate units operating "
    "on eight-bit integers.",
    "A hypersonic vehicle with a scramjet engine and a thermal protection system made of "
    "ultra-high-temperature ceramics.",
    "A messenger RNA vaccine encapsulated in lipid nanoparticles containing an ionisable "
    "cationic lipid.",
    "A cryptographic module implementing lattice-based post-quantum key encapsulation resistant "
    "to side-channel attacks.",
    "A permanent magnet containing neodymium, iron and boron with grain boundary diffusion of "
    "dysprosium for high coercivity.",
    "An autonomous driving system that fuses lidar, radar and camera data to predict the "
    "trajectories of pedestrians.",
    "A small modular nuclear reactor with passive cooling by natural circulation.",
    "A folding bicycle with a quick-release hinge and an integrated lock.",
    "一种锂离子电池正极材料及其制备方法。",
)


def build_int8(
    out_dir: Path,
    *,
    source: Path | None = None,
    per_channel: bool = True,
    op_types: Sequence[str] = ("MatMul",),
    fuse: bool = True,
    reduce_range: bool = False,
) -> Path:
    """Export a sentence-transformers BERT folder to ONNX and quantise its weights to int8.

    The folder is written next to ``out_dir`` under a temporary name and renamed into place
    at the end, so a reader never sees half a model; an existing ``out_dir`` is replaced.

    Args:
        out_dir: the model folder to write (``Int8Settings.path``).
        source: a sentence-transformers folder with mean pooling; the packaged
            all-MiniLM-L6-v2 when ``None``.
        per_channel: one weight scale per output channel (per-tensor loses quality:
            cosine ≈ 0.86-0.96 against fp32).
        op_types: node types whose weights are quantised. With ``fuse``, ``MatMul`` also
            covers the fused ``Attention`` nodes (their Q/K/V projections were MatMuls).
        fuse: fuse attention, layer norms and GELU with onnxruntime's transformer optimiser.
        reduce_range: 7-bit weights (for CPUs whose int8 kernels can saturate).

    Returns:
        ``out_dir``.

    Raises:
        ValueError: if ``source`` does not use mean pooling, or the export disagrees with torch.
    """
    from techscreen.embed.minilm import packaged_minilm

    started = time.perf_counter()
    source = Path(source) if source is not None else packaged_minilm()
    _check_mean_pooling(source)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir)
    staging.mkdir()
    try:
        with tempfile.TemporaryDirectory(dir=staging) as scratch:
            fp32 = Path(scratch) / "fp32.onnx"
            config = _export(source, fp32)
            if fuse:
                fp32 = _fuse(fp32, Path(scratch) / "fused.onnx", config)
            quantised_ops = list(dict.fromkeys(op_types))
            if fuse and "MatMul" in quantised_ops and "Attention" not in quantised_ops:
                quantised_ops.append("Attention")
            _quantise(fp32, staging / MODEL_FILE, quantised_ops, per_channel, reduce_range)
        for name in _COPIED:
            if (source / name).is_file():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, staging / name)
        cosine = _card_cosine(source, staging)
        card = {
            "kind": KIND,
            "source_model": str(source),
            "source_name": _source_name(source),
            "source_fingerprint": files_fingerprint(source),
            "dim": int(config.hidden_size),
            "opset": OPSET,
            "exporter": "torch.onnx.export (TorchScript, dynamo=False), eager attention",
            "inputs": list(INPUTS),
            "output": "last_hidden_state",
            "pooling": "mean over attention mask (numpy), then L2 normalisation",
            "fused": fuse,
            "quantisation": {
                "method": "onnxruntime.quantization.quantize_dynamic",
                "weight_type": "QInt8",
                "activations": "QUInt8, dynamic per batch",
                "per_channel": per_channel,
                "reduce_range": reduce_range,
                "op_types": list(op_types),
                "quantised_ops": quantised_ops,
            },
            "versions": _versions(),
            "build_date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 1),
            "cosine_vs_fp32": cosine,
            "rebuild": REBUILD,
        }
        (staging / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        (staging / CARD_MD).write_text(_card_markdown(card))
        replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info(
        "built %s in %.0f s: mean cosine vs fp32 %.4f (min %.4f)",
        out_dir,
        time.perf_counter() - started,
        cosine["mean"],
        cosine["min"],
    )
    return out_dir


def _check_mean_pooling(source: Path) -> None:
    # Pooling is re-implemented in numpy; any other mode would silently give other vectors.
    pooling = source / "1_Pooling" / "config.json"
    if pooling.is_file():
        config = json.loads(pooling.read_text())
        if not config.get("pooling_mode_mean_tokens") or any(
            v
            for k, v in config.items()
            if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
        ):
            raise ValueError(f"{source} does not use plain mean pooling: {config}")


def _source_name(source: Path) -> str:
    readme = source / "README.md"
    if readme.is_file() and "all-MiniLM-L6-v2" in readme.read_text(errors="replace"):
        return "sentence-transformers/all-MiniLM-L6-v2"
    return source.name


def _export(source: Path, target: Path) -> Any:
    """Export the encoder to ``target``; returns its transformers config."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        str(source), local_files_only=True, attn_implementation="eager"
    )
    model.eval()

    class _Encoder(torch.nn.Module):
        """Positional inputs and one output, which is what the ONNX graph exposes."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # A padded example: an all-ones mask could be optimised away during tracing.
    ids = torch.tensor([[101, 7987, 2003, 1037, 3231, 102], [101, 7987, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")}
    with warnings.catch_warnings(), torch.no_grad():
        # Tracer and deprecation warnings of the TorchScript exporter are expected here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            # eval() on the wrapper: the exporter restores the wrapper's mode afterwards,
            # recursively, and a fresh Module is in training mode (dropout on).
            _Encoder(model).eval(),
            (ids, mask, types),
            str(target),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    _check_export(target, model)
    return model.config


def _check_export(path: Path, model: Any) -> None:
    """Compare the ONNX graph with torch on a longer, differently padded batch than the traced one.

    This catches shapes or masks baked into the graph as constants during tracing.
    """
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 20000, size=(3, 23), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = np.ones_like(ids)
    for row, length in ((1, 9), (2, 2)):
        ids[row, length - 1] = 102
        ids[row, length:] = 0
        mask[row, length:] = 0
    types = np.zeros_like(ids)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
    with torch.no_grad():
        expected = model(
            input_ids=torch.from_numpy(ids),
            attention_mask=torch.from_numpy(mask),
            token_type_ids=torch.from_numpy(types),
        ).last_hidden_state.numpy()
    diff = float(np.abs((got - expected) * mask[..., None]).max())
    if not diff < 1e-3:
        raise ValueError(f"ONNX export of {path} differs from torch by {diff:.2e}")
    logger.debug("export check: max |onnx - torch| on real tokens %.2e", diff)


def _fuse(source: Path, target: Path, config: Any) -> Path:
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=1,
    )
    logger.info(
        "fused operators: %s", {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    )
    fused.save_model_to_file(str(target))
    return target


def _quantise(
    source: Path, target: Path, op_types: list[str], per_channel: bool, reduce_range: bool
) -> None:
    # The quantiser logs one line per tensor through the root logger at INFO: hundreds of
    # lines that drown the build's own log, so the root logger is quieted while it runs.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        _quantize_dynamic(source, target, op_types, per_channel, reduce_range)
    finally:
        root.setLevel(level)


def _quantize_dynamic(
    source: Path, target: Path, op_types: list[str], per_channel: bool, reduce_range: bool
) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        reduce_range=reduce_range,
        op_types_to_quantize=op_types,
        # ONNX shape inference cannot type the outputs of onnxruntime's fused contrib ops;
        # every tensor in this model is float32 anyway.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _card_cosine(source: Path, folder: Path) -> dict[str, Any]:
    from techscreen.embed.minilm import MiniLMEmbedder

    reference = MiniLMEmbedder(model_path=str(source), device="cpu").load().encode(list(CARD_TEXTS))
    vectors = OnnxInt8Embedder(path=str(folder)).load().encode(list(CARD_TEXTS))
    cosines = (reference * vectors).sum(axis=1)
    return {
        "texts": len(CARD_TEXTS),
        "mean": round(float(cosines.mean()), 4),
        "min": round(float(cosines.min()), 4),
    }


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    return {
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def _card_markdown(card: dict[str, Any]) -> str:
    q = card["quantisation"]
    return f"""# minilm-int8

{card["source_name"]} exported to ONNX (opset {card["opset"]}) and quantised to int8 weights
for CPU inference with onnxruntime. Used by the `minilm-int8` embedder of techscreen.

| | |
|---|---|
| source | `{card["source_model"]}` |
| source fingerprint | `{card["source_fingerprint"][:16]}…` |
| graph | inputs {", ".join(card["inputs"])}; output {card["output"]}; fused: {card["fused"]} |
| pooling | {card["pooling"]} |
| quantisation | {q["method"]}, weights {q["weight_type"]}, per-channel {q["per_channel"]}, \
reduce-range {q["reduce_range"]}, ops {", ".join(q["quantised_ops"])} |
| onnxruntime | {card["versions"]["onnxruntime"]} |
| built | {card["build_date"]} in {card["build_seconds"]} s |
| cosine vs fp32 | mean {card["cosine_vs_fp32"]["mean"]}, min {card["cosine_vs_fp32"]["min"]} \
on {card["cosine_vs_fp32"]["texts"]} fixed texts |

Vectors of this model are not interchangeable with fp32 `minilm` vectors (cosine ≈ 0.99, not 1):
the embedder id differs, so they are never mixed.

Rebuild with:

    {card["rebuild"]}
"""


class OnnxInt8Embedder(FolderEmbedder):
    """The int8 ONNX MiniLM built by :func:`build_int8`, on CPU with onnxruntime.

    Args:
        path: the model folder (``Int8Settings.path``).
        threads: onnxruntime intra-op threads. 0 chooses: inside a Spark task, the task's cores
            (``spark.task.cpus``, usually 1), because an executor runs one task per core and
            each task's session would otherwise start one thread per core of the machine,
            oversubscribing it N-fold; outside Spark, onnxruntime's default (one per
            physical core).
        max_tokens: texts are truncated to this many word pieces (with [CLS]/[SEP]).
        batch_size: texts per tokenizer call; onnxruntime runs one text per call (see
            :meth:`_encode`), so nothing is padded and the job need not sort by length.
    """

    kind = KIND
    length_sorted = False  # one text per onnxruntime call: no padding to avoid

    def __init__(
        self,
        *,
        path: str = "models/minilm-int8",
        threads: int = 0,
        max_tokens: int = 256,
        batch_size: int = 64,
    ) -> None:
        super().__init__(path=path, max_tokens=max_tokens, batch_size=batch_size)
        self.threads = threads

    def get_params(self) -> dict[str, Any]:
        """Parameters, with the model folder and thread setting."""
        return {**super().get_params(), "threads": self.threads}

    def _require_model(self) -> None:
        if (
            not (self.folder / MODEL_FILE).is_file()
            or not (self.folder / "tokenizer.json").is_file()
        ):
            raise FileNotFoundError(f"no int8 model at {self.folder}: build it with `{REBUILD}`")

    def model_fingerprint(self) -> str:
        """Digest of the model folder (model, tokenizer and card: a rebuild gets a new id)."""
        self._require_model()
        return files_fingerprint(self.folder)

    def load(self) -> OnnxInt8Embedder:
        """Open the onnxruntime session and the fast tokenizer.

        Raises:
            FileNotFoundError: if the folder has no model (build it with
                ``techscreen models build-int8``).
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._require_model()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        cores = task_cpus()
        options.intra_op_num_threads = self.threads or cores  # 0 = onnxruntime's default
        options.inter_op_num_threads = 1  # a BERT graph is one chain: no parallel branches
        if cores:
            # Spinning worker threads burn cores that neighbouring tasks need.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session_ = ort.InferenceSession(
            str(self.folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_names_ = {i.name for i in self.session_.get_inputs()}
        width = self.session_.get_outputs()[0].shape[-1]
        if not isinstance(width, int):
            width = int(json.loads((self.folder / CARD_JSON).read_text())["dim"])
        self.dim_ = width

        tokenizer_file = str(self.folder / "tokenizer.json")
        # The shipped tokenizer.json pads and truncates to a fixed 128: reset both.
        counter = Tokenizer.from_file(tokenizer_file)
        counter.no_padding()
        counter.no_truncation()
        self.counter_ = counter
        tokenizer = Tokenizer.from_file(tokenizer_file)
        tokenizer.no_padding()  # texts run one per call (see _encode): nothing to pad
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer_ = tokenizer
        logger.info(
            "loaded %s (%s threads, %s)",
            self.folder,
            self.threads or cores or "ort default",
            ort.__version__,
        )
        return self

    @property
    def dim(self) -> int:
        """384 for MiniLM."""
        return int(self.dim_)

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Word-piece counts including [CLS]/[SEP], before truncation."""
        encodings = self.counter_.encode_batch(list(texts), add_special_tokens=True)
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """One onnxruntime call per text, then mean pooling.

        Dynamic quantisation scales each MatMul's activations by the range of the whole
        input tensor, so in a batch a text's vector would depend on its batch-mates (up to
        0.046 apart here): a re-run with other partitions would change vectors. One text per
        call makes each vector a function of its text alone, and with no padding it is also
        faster on this CPU (45.9 vs 31.0 docs/s for batches of 64, 300 sample abstracts).
        """
        encodings = self.tokenizer_.encode_batch(list(texts), add_special_tokens=True)
        return np.stack([self._encode_one(e.ids) for e in encodings])

    def _encode_one(self, token_ids: list[int]) -> np.ndarray:
        ids = np.array([token_ids], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        hidden = self.session_.run(
            None, {k: v for k, v in feeds.items() if k in self.input_names_}
        )[0]
        # Mean over the tokens, as sentence-transformers' Pooling(mean) does (no padding here).
        return hidden[0].mean(axis=0).astype(np.float32)
