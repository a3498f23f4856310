"""How often transformers' Korean splitting differs from the official aligner's.

    python bench/korean_units.py

Reads the 200 Korean sentences of tests/fixtures/units/official_units.json (their official
units were recorded from the qwen-asr wheel by record_official.py in that folder) and prints
how many sentences and units transformers' `split_words_for_alignment` (soynlp's LTokenizer
without scores) cuts differently, next to alignadapt's `split_units` (the official scores).
"""

from __future__ import annotations

import json
from pathlib import Path

from alignadapt.demo.tiny import TinySpec, build_processor
from alignadapt.model.prompt import split_units

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "units" / "official_units.json"


def main() -> None:
    items = json.loads(FIXTURE.read_text(encoding="utf-8"))["splits"]["Korean"]
    processor = build_processor(TinySpec())  # the splitter does not depend on the model
    official = sum(len(it["units"]) for it in items)
    for name, split in [
        ("transformers", lambda t: processor.split_words_for_alignment(t, "Korean")),
        ("alignadapt", lambda t: split_units(processor, t, "ko")),
    ]:
        got = [split(it["text"]) for it in items]
        differ = sum(g != it["units"] for g, it in zip(got, items, strict=True))
        units = sum(len(g) for g in got)
        print(
            f"{name:13s} {differ}/{len(items)} sentences differ from the official split "
            f"({differ / len(items):.0%}); {units} units vs the official {official}"
        )
    example = next(
        it
        for it in items
        if processor.split_words_for_alignment(it["text"], "Korean") != it["units"]
    )
    print(f"e.g. {example['text']}\n  official:     {example['units']}")
    print(f"  transformers: {processor.split_words_for_alignment(example['text'], 'Korean')}")


if __name__ == "__main__":
    main()
