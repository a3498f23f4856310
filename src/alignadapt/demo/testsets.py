"""Fixed test sets that prove generalisation, and the domain set of `make train`.

Made once by `alignadapt demo-data --tests` and kept: FLAC files and JSON Lines manifests.
Test voices are espeak-ng variants (and accents) never used for training, test sentences are
those `text.held_out` reserves, so nothing here was heard in pretraining or in `make train`:

- tests/{language}_{bucket}.jsonl: per language (en, fr, de, es, zh) and length bucket
  (1-5, 5-10, 10-20, 20-30 s), unseen voices, recording conditions of the pretraining;
- domain_test.jsonl: medical and legal English in unseen voices (the `make train` test);
- general_test.jsonl: general English in unseen voices (forgetting, `make train`);
- tests/long_*.jsonl: recordings of 3 to 10 minutes (long-audio alignment).

`make train`'s own splits (domain_train, domain_val, general_replay, general_val) use training
voices: the domain vocabulary is new to the base, the voices are not. The two validation sets
are never trained on; choices (the checkpoint, `make train`'s settings) are made on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..data.manifest import write_jsonl
from ..model.prompt import SAMPLE_RATE
from .broad import BUCKETS, LANGUAGES, Utterance, make_utterance
from .degrade import Conditions
from .espeak import EspeakCrashed

DOMAIN_CONDITIONS = Conditions(
    gain_db=(-12.0, -3.0),
    noise_prob=0.5,
    snr_db=(15.0, 35.0),
    reverb_prob=0.2,
    telephone_prob=0.0,
    codec_prob=0.1,
)  # lecture and hearing recordings: moderate noise and rooms
LONG_CONDITIONS = Conditions(
    gain_db=(-12.0, -3.0),
    noise_prob=1.0,
    snr_db=(20.0, 30.0),
    reverb_prob=0.0,
    telephone_prob=0.0,
    codec_prob=0.0,
)


@dataclass
class Split:
    """One manifest: `count` utterances of `language`, `grammar`, `split` side, length range."""

    name: str
    count: int
    language: str = "en"
    grammar: str | None = None
    side: str = "test"
    seconds: tuple[float, float] = (1.0, 5.0)
    conditions: Conditions | None = None


def bucket_name(bucket: tuple[float, float]) -> str:
    return f"{bucket[0]:g}-{bucket[1]:g}s"


def test_splits(per_cell: int = 10, long_count: int = 2) -> list[Split]:
    """The generalisation tests: every language x bucket, plus long recordings."""
    out = [
        Split(f"tests/{lang}_{bucket_name(b)}", per_cell, lang, seconds=b)
        for lang in LANGUAGES
        for b in BUCKETS
    ]
    if long_count:
        out.append(
            Split(
                "tests/long_en",
                long_count,
                "en",
                seconds=(180.0, 600.0),
                conditions=LONG_CONDITIONS,
            )
        )
    return out


def domain_splits(
    train: int = 300,
    val: int = 40,
    test: int = 120,
    general: int = 120,
    replay: int = 300,
    general_val: int = 40,
) -> list[Split]:
    """`make train`: domain speech in training voices to learn from, unseen voices to test on.
    The two validation sets (domain_val, general_val) are what choices are made on
    (`bench/make_train_choice.py`), so the test sets are only measured."""
    d, g = DOMAIN_CONDITIONS, Conditions()
    return [
        Split(
            "domain_train",
            train,
            grammar="en_domain",
            side="train",
            seconds=(2.0, 12.0),
            conditions=d,
        ),
        Split(
            "domain_val", val, grammar="en_domain", side="train", seconds=(2.0, 12.0), conditions=d
        ),
        Split(
            "domain_test", test, grammar="en_domain", side="test", seconds=(2.0, 12.0), conditions=d
        ),
        Split("general_test", general, side="test", seconds=(2.0, 12.0), conditions=g),
        Split("general_replay", replay, side="train", seconds=(2.0, 12.0), conditions=g),
        Split("general_val", general_val, side="train", seconds=(2.0, 12.0), conditions=g),
    ]


def write_split(
    out_dir: Path, split: Split, seed: int, engine=None, force: bool = False, progress: bool = True
) -> Path:
    """Synthesise one split into out_dir/<name>.jsonl and out_dir/<name>/*.flac (atomic
    manifest; an existing one is kept unless `force`)."""
    manifest = out_dir / f"{split.name}.jsonl"
    if manifest.exists() and not force:
        return manifest
    if engine is None:
        from .espeak import IsolatedEspeak

        engine = IsolatedEspeak()
    audio_dir = out_dir / split.name
    audio_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, *split.name.encode()])
    records = []
    for i in tqdm(range(split.count), desc=split.name, disable=not progress, leave=False):
        target = float(rng.uniform(*split.seconds))
        while True:
            try:
                utt: Utterance = make_utterance(
                    engine,
                    rng,
                    split.language,
                    target,
                    split=split.side,
                    grammar=split.grammar,
                    conditions=split.conditions,
                )
                break
            except EspeakCrashed:  # libespeak-ng crashes in this voice and pitch: another
                continue
        rel = f"{Path(split.name).name}/{i:05d}.flac"
        sf.write(audio_dir / f"{i:05d}.flac", utt.audio, SAMPLE_RATE, subtype="PCM_16")
        records.append(
            {
                "audio_path": rel,
                "text": utt.text,
                "language": utt.language,
                "duration": round(len(utt.audio) / SAMPLE_RATE, 4),
                "words": [{"word": w, "start": s, "end": e} for w, s, e in utt.words],
                **utt.info,
            }
        )
    write_jsonl(manifest, records, force=True)
    return manifest


def make_splits(
    out_dir: str | Path,
    splits: list[Split],
    seed: int = 11,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    from .espeak import IsolatedEspeak

    out_dir, engine = Path(out_dir), IsolatedEspeak()
    bar = tqdm(splits, desc="demo data", disable=not progress)
    return {s.name: write_split(out_dir, s, seed, engine, force, progress) for s in bar}
