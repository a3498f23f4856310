"""The official Korean word dictionary: fetched from the `qwen-asr` wheel at install time.

The official aligner (QwenLM/Qwen3-ASR, `qwen_asr/inference/qwen3_forced_aligner.py`) splits
Korean with soynlp's `LTokenizer` scored by a word list it ships,
`qwen_asr/inference/assets/korean_dict_jieba.dict` (Apache-2.0): every word of it scores 1.0.
transformers builds the tokenizer without scores, so `날씨가` stays one unit where the official
aligner (and the model it trained) has `날씨` + `가`. The `qwen-asr` package itself must not be
installed (it pins an old transformers), so `make install` downloads its wheel without
dependencies and copies the one file out of it:

    python -m alignadapt.model.korean_dict          # = what make install runs

The file lands in `assets/` next to this module (or `$ALIGNADAPT_KOREAN_DICT` names it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

WHEEL = "qwen-asr==0.0.6"  # the wheel the dictionary is read from (pinned: its hash is below)
MEMBER = "qwen_asr/inference/assets/korean_dict_jieba.dict"
SHA256 = "cc157a9ab78f92bf11ed98a69b285768d6627cf5cd57a581e6c06693effce37d"
DEFAULT_PATH = Path(__file__).parent / "assets" / "korean_dict_jieba.dict"


def dictionary_path() -> Path:
    """Where the dictionary is read from: `$ALIGNADAPT_KOREAN_DICT`, else the package's assets."""
    return Path(os.environ.get("ALIGNADAPT_KOREAN_DICT") or DEFAULT_PATH)


@lru_cache(maxsize=4)
def _scores(path: str) -> dict[str, float]:
    scores = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if fields:  # "word frequency tag": the official code scores the word 1.0
                scores[fields[0]] = 1.0
    return scores


def korean_scores() -> dict[str, float]:
    """The official word scores for soynlp's LTokenizer (every dictionary word scores 1.0)."""
    path = dictionary_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the official Korean word dictionary is missing ({path}); Korean units would "
            "differ from the ones the aligner was trained on. Fetch it with "
            "`python -m alignadapt.model.korean_dict` (make install does), or set "
            "ALIGNADAPT_KOREAN_DICT to a copy of qwen_asr/inference/assets/korean_dict_jieba.dict"
        )
    return _scores(str(path))


def fetch(dest: Path | None = None, wheel_dir: Path | None = None, force: bool = False) -> Path:
    """Copy the dictionary out of the `qwen-asr` wheel into `dest`, atomically, hash checked.

    `wheel_dir` holding the wheel already skips the download (no network needed).
    """
    dest = Path(dest or DEFAULT_PATH)
    if dest.is_file() and not force:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        if wheel_dir is None:
            wheel_dir = Path(tmp)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", tmp]
            subprocess.run(cmd, check=True)
        wheels = sorted(Path(wheel_dir).glob("qwen_asr-*.whl"))
        if not wheels:
            raise FileNotFoundError(f"no qwen_asr wheel in {wheel_dir}")
        data = zipfile.ZipFile(wheels[-1]).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{wheels[-1].name}:{MEMBER} has sha256 {digest}, expected {SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(data)
    os.replace(part, dest)
    return dest


if __name__ == "__main__":
    print(f"Korean word dictionary: {fetch()}")
