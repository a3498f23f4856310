"""alignadapt memory: what fits a 16/24/40/80 GB card, from memory measured on real-width layers.

    alignadapt memory                                   # every preset and precision (~1 min each
                                                        #   on 2 CPU cores the first time, cached)
    alignadapt memory --presets decoder_attn --precisions bf16 --cards 24

For each LoRA preset (conf/lora/), precision (bf16: model.dtype=bfloat16 with bf16-mixed;
mixed: fp32 weights with bf16-mixed; fp32) and gradient checkpointing off/on, it prints, per
card, the longest single training piece (s), the training batch of --seconds pieces, and the
validation batch of --seconds pieces that fit with 10% of the card free. The figures behind it
(bytes kept per token per decoder layer, ...) are measured on CPU with saved-tensor hooks
(alignadapt.training.memory) and cached in --cache; `make gpu-check` compares them with a GPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

PRESETS = ("decoder_attn", "decoder_attn_mlp", "decoder_audio", "decoder_attn_head", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["bf16", "mixed", "fp32"],
        choices=["bf16", "mixed", "fp32"],
    )
    parser.add_argument("--cards", nargs="+", type=float, default=[16, 24, 40, 80], help="GB")
    parser.add_argument(
        "--seconds", type=float, default=180.0, help="piece length for the batch columns"
    )
    parser.add_argument("--cache", default=".cache/memory", help="measured figures are kept here")
    parser.add_argument("--no-cache", action="store_true", help="measure again")


def table(rows: list[dict], cards: list[float], seconds: float) -> str:
    """The planner's table as Markdown (what the README shows)."""
    head = ["preset", "precision", "ckpt", "KiB/token/layer"]
    head += [f"{c:g} GB: train longest s / batch / val batch" for c in cards]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["preset"], row["precision"], "on" if row["checkpointing"] else "off"]
        cells.append(f"{row['kib']:.1f}")
        for plan in row["plans"]:
            cells.append(
                f"{plan['train_longest_s']:.0f} / {plan['train_batch']} / {plan['eval_batch']}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\nbatch columns: pieces of {seconds:g} s (~{seconds * 25:.0f} tokens at 4 units/s); "
        "0 = does not fit; 10% of each card left free."
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..training.memory import cached_measure, plan, preset_spec

    cache = None if args.no_cache else Path(args.cache)
    rows = []
    bar = tqdm(total=12 * len(args.presets) * len(args.precisions), desc="measuring", leave=False)
    for name in args.presets:
        for precision in args.precisions:
            measured = cached_measure(preset_spec(name), precision, cache, progress=bar)
            for checkpointing in (False, True):
                kib = (
                    measured.checkpointed_per_token_layer
                    if checkpointing
                    else measured.decoder_per_token_layer
                ) / 1024
                plans = [plan(measured, card, checkpointing, args.seconds) for card in args.cards]
                rows.append(
                    dict(
                        preset=name,
                        precision=precision,
                        checkpointing=checkpointing,
                        kib=kib,
                        plans=plans,
                    )
                )
    bar.close()
    print(table(rows, args.cards, args.seconds))
    return 0
