"""A memory planner for the real model, measured on real-width layers, not guessed.

`measure` builds the real architecture (1024 wide, 5000 classes, released token ids) with
random weights at 1-2 layers per tower, applies a LoRA preset, and runs the training forward
(the module's own `slot_logits` and loss, under bf16 autocast or not, with or without
gradient checkpointing) inside `torch.autograd.graph.saved_tensors_hooks`, adding up every
distinct storage autograd keeps for the backward pass. Forwards at two depths and two lengths
separate what each decoder / encoder layer keeps per token / per second of audio from what
is kept once. Forward hooks measure the audio encoder's convolution stack (its output for
all chunks at once is the largest transient tensor of a long call) and, without autograd,
one decoder layer's working set (evaluation).

`plan` turns those figures, the frozen weights and the training state (AdamW's, in each
trained parameter's own dtype), into the longest call and the batch that fit a card, with 10%
of the card left free. The planner assumes SDPA attention (no T x T matrix), as transformers
uses by default. `alignadapt memory` prints the table (the README's comes from it).
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model.architecture import (
    REAL_PARAMETERS,
    build_tokenizer,
    meta_aligner,
    random_aligner,
    real_config,
    real_processor,
)
from ..model.lora import LoraSpec, apply_lora
from ..model.prompt import MODEL_INPUTS, build_inputs, slot_logits, unwrap

GB = 1e9
AUDIO_TOKENS_PER_S = 13  # the encoder's rate: 100 mel frames/s -> 13 tokens per 1 s chunk
UNITS_PER_S = 4.0  # planning speech rate: fast speech (conversation is ~2.5-3 words/s)
TOKENS_PER_UNIT = 3  # the unit's BPE token(s) + 2 <timestamp> slots (English words ~1.3 tokens)
CUDA_CONTEXT = 0.75 * GB  # CUDA context, cuBLAS workspace, allocator slack
HEADROOM = 0.10  # share of the card left free
DECODER_LAYERS, AUDIO_LAYERS = 28, 24
# precision name -> (dtype of the weights, autocast to bf16)
PRECISIONS = {
    "bf16": (torch.bfloat16, True),  # model.dtype=bfloat16 + trainer.precision=bf16-mixed
    "mixed": (torch.float32, True),  # fp32 weights + trainer.precision=bf16-mixed
    "fp32": (torch.float32, False),  # trainer.precision=32
}


def tokens_per_second() -> float:
    return AUDIO_TOKENS_PER_S + UNITS_PER_S * TOKENS_PER_UNIT


@dataclass
class Measured:
    """Bytes one forward keeps for backward, split by what they grow with."""

    decoder_per_token_layer: float  # per token per decoder layer
    checkpointed_per_token_layer: float  # the same with gradient checkpointing (layer inputs)
    checkpointed_audio_per_second_layer: float  # encoder layer inputs kept by checkpointing
    decoder_per_layer: float  # per decoder layer, once per forward (weight casts)
    audio_per_second_layer: float  # per second of audio per encoder layer (audio LoRA only)
    audio_per_layer: float
    fixed_per_second: float  # embeddings, convolutions, projector, head: per second of audio
    fixed: float
    conv_per_second: float  # transient: the conv stack's largest output pair, per second
    infer_per_token_layer: float  # evaluation working set of one decoder layer, per token
    trainable: int  # trained parameters at full depth
    weight_bytes: int  # bytes per frozen weight (4 fp32, 2 bf16)
    # bytes of one copy of the trained parameters, each in its own dtype: peft keeps LoRA
    # weights in fp32 (4 bytes), a trained head or a fully trained model in bf16 weights is bf16
    trained_bytes: int

    def saved(
        self,
        batch: int,
        seconds: float,
        checkpointing: bool,
        layers: int = DECODER_LAYERS,
        audio_layers: int = AUDIO_LAYERS,
    ) -> float:
        """Bytes kept for backward by one forward of `batch` probes of `seconds` (full depth
        unless `layers` / `audio_layers` say otherwise).

        With checkpointing, each layer keeps its input and one layer's activations are
        rebuilt at a time in the backward pass: that layer is counted once.
        """
        audio_s = batch * seconds
        tokens = audio_s * tokens_per_second()
        layer = self.decoder_per_layer + self.decoder_per_token_layer * tokens
        audio = audio_layers * (self.audio_per_layer + self.audio_per_second_layer * audio_s)
        fixed = self.fixed + max(self.fixed_per_second, 0.0) * audio_s
        if not checkpointing:
            return fixed + audio + layers * layer
        inputs = layers * self.checkpointed_per_token_layer * tokens
        audio_inputs = audio_layers * self.checkpointed_audio_per_second_layer * audio_s
        return fixed + audio + audio_inputs + inputs + layer

    def training_state(self) -> float:
        """Bytes resident all through training: the frozen weights, and for each trained
        parameter its weight, its gradient and AdamW's two moments. torch's AdamW keeps the
        moments and the gradient in the parameter's own dtype: 16 bytes per fp32 parameter
        (LoRA), 8 per bf16 parameter (full fine-tuning of bf16 weights). Gradients stay
        between steps (Lightning zeroes them before the next backward, and they accumulate
        over `accumulate_grad_batches`), so they count in the forward too."""
        frozen = (REAL_PARAMETERS - self.trainable) * self.weight_bytes
        return frozen + 4 * self.trained_bytes

    def training_peak(self, batch: int, seconds: float, checkpointing: bool) -> float:
        """Peak bytes of a training step on one GPU: the training state plus the larger of
        the forward's activations (what autograd keeps, and the convolution stack's transient)
        and the optimizer step's temporary (AdamW's foreach path, the default on CUDA, makes
        one copy of the second moments)."""
        conv = self.conv_per_second * batch * seconds  # every chunk of the batch in one call
        forward = self.saved(batch, seconds, checkpointing) + conv
        return CUDA_CONTEXT + self.training_state() + max(forward, self.trained_bytes)

    def evaluation_peak(self, batch: int, seconds: float) -> float:
        """Peak bytes of validation during training: the training weights and optimizer state
        stay resident while a no-grad bf16 forward runs (evaluate.py in bf16 needs less)."""
        tokens = batch * seconds * tokens_per_second()
        weights = self.training_state()
        conv = self.conv_per_second / 2 * batch * seconds  # measured in fp32, runs in bf16
        working = max(conv, self.infer_per_token_layer * tokens)
        return CUDA_CONTEXT + weights + working + tokens * 1024 * 2


class SavedBytes:
    """Adds up the distinct storages autograd saves (parameters excluded: they exist anyway)."""

    def __init__(self, model: torch.nn.Module):
        self.params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.seen: set[int] = set()
        self.total = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self.params and ptr not in self.seen:
            self.seen.add(ptr)
            self.total += storage.nbytes()
        return tensor


def measuring_processor():
    """The released feature extractor and template with a small tokenizer: activations do not
    depend on the vocabulary, and a 152,064-row embedding would only slow the measurement."""
    from transformers import Qwen3ASRProcessor

    real = real_processor()
    return Qwen3ASRProcessor(
        feature_extractor=real.feature_extractor,
        tokenizer=build_tokenizer(),
        chat_template=real.chat_template,
    )


def measuring_model(
    layers: int, audio_layers: int, processor, dtype: torch.dtype = torch.float32
) -> torch.nn.Module:
    """The real architecture at `layers` / `audio_layers`, real width, `processor`'s token ids."""
    config = real_config(layers, audio_layers)
    ids = processor.tokenizer.convert_tokens_to_ids
    config.text_config.vocab_size = len(processor.tokenizer)
    config.audio_token_id, config.timestamp_token_id = ids("<|audio_pad|>"), ids("<timestamp>")
    config.pad_token_id, config.eos_token_id = ids("<|endoftext|>"), ids("<|im_end|>")
    return random_aligner(config, seed=0, dtype=dtype)


def probe(processor, seconds: float, dtype: torch.dtype, seed: int = 0):
    """Model inputs and slot targets for one probe: noise with UNITS_PER_S one-token units."""
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    units = ["the"] * int(round(UNITS_PER_S * seconds))
    inputs = build_inputs(processor, [audio], [units], dtype)
    return inputs, torch.arange(2 * len(units)) % 100


def lora_model(layers, audio_layers, processor, spec: LoraSpec, dtype, checkpointing: bool):
    """The measuring model as training builds it: frozen, checkpointing, LoRA, train mode."""
    return train_ready(measuring_model(layers, audio_layers, processor, dtype), spec, checkpointing)


def train_ready(model, spec: LoraSpec, checkpointing: bool):
    """A model prepared as AlignerModule prepares it: checkpointing, frozen, LoRA, train mode."""
    if checkpointing:
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": False}
        )
    model.requires_grad_(False)
    net = apply_lora(model, spec)
    net.train()
    return net


def saved_bytes(net, processor, seconds: float, dtype: torch.dtype, autocast: bool):
    """(bytes kept for backward, tokens) of one training forward (slot logits + loss)."""
    inputs, targets = probe(processor, seconds, dtype)
    counter = SavedBytes(net)
    tsid = unwrap(net).config.timestamp_token_id
    with (
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast),
        torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t),
    ):
        logits, _ = slot_logits(net, inputs, tsid, dropout=True)
        F.cross_entropy(logits.float(), targets)
    return float(counter.total), int(inputs["input_ids"].shape[1])


def _forward(model, inputs) -> None:
    with torch.no_grad():
        model.model(**{k: inputs[k] for k in MODEL_INPUTS})


@lru_cache(maxsize=1)
def conv_and_inference(seconds: float = 8.0) -> tuple[float, float]:
    """(conv stack transient bytes per second of audio in fp32, one decoder layer's no-grad
    working set per token in bf16), measured with forward hooks on real-width layers."""
    processor = measuring_processor()
    model = measuring_model(1, 1, processor).eval()
    sizes: dict[str, int] = {}
    hook = model.model.audio_tower.conv2d1.register_forward_hook(
        lambda _m, _i, out: sizes.__setitem__("conv1", out.numel() * out.element_size())
    )
    _forward(model, probe(processor, seconds, torch.float32)[0])
    hook.remove()
    conv_per_s = 2 * sizes["conv1"] / seconds  # the first conv's output and its GELU coexist
    model = model.to(torch.bfloat16)
    layer = model.model.language_model.layers[0]
    outputs: list[int] = []
    hooks = [
        m.register_forward_hook(
            lambda _m, _i, out: outputs.append(out.numel() * out.element_size())
        )
        for m in layer.modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.SiLU))
    ]
    inputs = probe(processor, seconds, torch.bfloat16)[0]
    _forward(model, inputs)
    for h in hooks:
        h.remove()
    return conv_per_s, sum(outputs) / inputs["input_ids"].shape[1]


def _per_layer(runs, lengths, checkpointing):
    """Per-token and per-layer figures from forwards at depths (1,1), (2,1), (1,2)."""
    short, long = lengths
    (s11, t1), (l11, t2) = runs[checkpointing, 1, 1, short], runs[checkpointing, 1, 1, long]
    dec_short = runs[checkpointing, 2, 1, short][0] - s11
    dec_long = runs[checkpointing, 2, 1, long][0] - l11
    d = (dec_long - dec_short) / (t2 - t1)
    c = dec_short - d * t1
    aud_short = runs[checkpointing, 1, 2, short][0] - s11
    aud_long = runs[checkpointing, 1, 2, long][0] - l11
    a = (aud_long - aud_short) / (long - short)
    ca = aud_short - a * short
    fixed_short = s11 - (c + d * t1) - (ca + a * short)
    fixed_long = l11 - (c + d * t2) - (ca + a * long)
    fs = (fixed_long - fixed_short) / (long - short)
    return d, c, a, ca, fs, fixed_short - fs * short


def measure(
    spec: LoraSpec, precision: str, lengths=(4.0, 8.0), progress=None, checkpointing_too=True
) -> Measured:
    """The figures of `Measured` for one preset and precision, with and without checkpointing
    (12 training forwards at real width on CPU; `checkpointing_too=False` skips the 6 with).
    `lengths` are whole seconds: the encoder pads audio to 1 s chunks, so a fraction would
    bend the per-second slopes."""
    dtype, autocast = PRECISIONS[precision]
    processor = measuring_processor()
    runs = {}
    for checkpointing in (False, True) if checkpointing_too else (False,):
        for layers, audio_layers in ((1, 1), (2, 1), (1, 2)):
            net = lora_model(layers, audio_layers, processor, spec, dtype, checkpointing)
            for seconds in lengths:
                runs[checkpointing, layers, audio_layers, seconds] = saved_bytes(
                    net, processor, seconds, dtype, autocast
                )
                if progress is not None:
                    progress.update(1)
            del net
            gc.collect()  # peft and hooks make cycles: free the model before the next one
    d, c, a, ca, fs, f0 = _per_layer(runs, lengths, False)
    dk, _, ak, _, _, _ = _per_layer(runs, lengths, True) if checkpointing_too else (0,) * 6
    conv, infer = conv_and_inference()
    return Measured(
        decoder_per_token_layer=d,
        checkpointed_per_token_layer=dk,
        checkpointed_audio_per_second_layer=max(ak - a, 0.0),
        decoder_per_layer=max(c, 0.0),
        audio_per_second_layer=max(a, 0.0),
        audio_per_layer=max(ca, 0.0),
        fixed_per_second=fs,
        fixed=max(f0, 0.0),
        conv_per_second=conv,
        infer_per_token_layer=infer,
        weight_bytes=torch.finfo(dtype).bits // 8,
        **dict(zip(("trainable", "trained_bytes"), trained_parameters(spec, dtype), strict=True)),
    )


def trained_parameters(spec: LoraSpec, dtype: torch.dtype) -> tuple[int, int]:
    """(count, bytes of one copy) of the parameters `spec` trains on the full-depth real model
    with `dtype` weights (meta device: nothing is allocated)."""
    net = apply_lora(meta_aligner().to(dtype).requires_grad_(False), spec)
    trained = [p for p in net.parameters() if p.requires_grad]
    return sum(p.numel() for p in trained), sum(p.numel() * p.element_size() for p in trained)


def plan(measured: Measured, card_gb: float, checkpointing: bool, seconds: float = 180.0) -> dict:
    """What fits a card with 10% of it free: the longest single call (10 s steps up to 300 s)
    and the largest batch of `seconds` calls, in training and in validation."""
    budget = card_gb * GB * (1 - HEADROOM)

    def train(b: int, s: float) -> float:
        return measured.training_peak(b, s, checkpointing)

    def largest_batch(peak) -> int:
        b = 0
        while b < 256 and peak(b + 1, seconds) <= budget:
            b += 1
        return b

    def longest(peak) -> float:
        fits = [s for s in range(10, 301, 10) if peak(1, float(s)) <= budget]
        return float(max(fits)) if fits else 0.0

    return {
        "train_longest_s": longest(train),
        "train_batch": largest_batch(train),
        "eval_longest_s": longest(measured.evaluation_peak),
        "eval_batch": largest_batch(measured.evaluation_peak),
    }


def cached_measure(
    spec: LoraSpec, precision: str, cache_dir: Path | None, progress=None
) -> Measured:
    """`measure`, kept in `cache_dir` as JSON (keyed by preset, precision and torch version)."""
    path = None
    if cache_dir is not None:
        key = f"{spec.name}-r{spec.r}-{precision}-torch{torch.__version__}-v2"  # v2: trained_bytes
        path = Path(cache_dir) / f"{key}.json"
        if path.is_file():
            if progress is not None:
                progress.update(12)
            return Measured(**json.loads(path.read_text()))
    measured = measure(spec, precision, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(asdict(measured), indent=1))
        os.replace(tmp, path)
    return measured


def preset_spec(name: str) -> LoraSpec:
    """A LoRA preset from conf/lora/NAME.yaml (a repository checkout) as a LoraSpec."""
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[3] / "conf" / "lora" / f"{name}.yaml"
    raw = OmegaConf.to_container(OmegaConf.load(conf))
    return LoraSpec(**{k: v for k, v in raw.items() if k != "defaults"})
