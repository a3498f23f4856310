"""Units exactly as the official aligner cuts them, for names and ISO codes alike.

The official splits were recorded from the qwen-asr 0.0.6 wheel's own splitter
(fixtures/units/record_official.py); the sentences are in fixtures/units/*_sentences.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from transformers.models.qwen3_asr.processing_qwen3_asr import (
    FORCED_ALIGNER_LANGUAGES,
    LANGUAGE_CODE_TO_NAME,
)

from alignadapt.data.validation import check_manifest
from alignadapt.model import korean_dict
from alignadapt.model.prompt import language_name, split_units

OFFICIAL = json.loads(
    (Path(__file__).parent / "fixtures" / "units" / "official_units.json").read_text("utf-8")
)["splits"]
JA = "今日はいい天気ですね。"


@pytest.mark.parametrize("language", sorted(OFFICIAL))
def test_units_equal_the_official_splits_of_real_sentences(processor, language):
    items = OFFICIAL[language]
    got = [split_units(processor, it["text"], language) for it in items]
    assert got == [it["units"] for it in items]


def test_korean_uses_the_official_scores_where_transformers_does_not(processor):
    assert split_units(processor, "오늘 날씨가 정말 좋네요.", "ko") == [
        "오늘",
        "날씨",
        "가",
        "정말",
        "좋네요",
    ]
    # transformers' unscored LTokenizer: what the model did not learn
    assert processor.split_words_for_alignment("오늘 날씨가 정말 좋네요.", "Korean") == [
        "오늘",
        "날씨가",
        "정말",
        "좋네요",
    ]
    korean = OFFICIAL["Korean"]
    differ = sum(
        processor.split_words_for_alignment(it["text"], "Korean") != it["units"] for it in korean
    )
    assert (len(korean), differ) == (200, 198)  # bench/korean_units.py prints the same


@pytest.mark.parametrize(
    ("code", "name", "text"),
    [
        ("ja", "Japanese", JA),
        ("ko", "Korean", "환자는 가슴 통증과 호흡 곤란을 호소했습니다."),
        ("zh", "Chinese", "患者主诉胸痛伴呼吸困难。"),
        ("yue", "Cantonese", "我哋今日去飲茶啦。"),
    ],
)
def test_codes_names_and_any_case_give_identical_units(processor, code, name, text):
    expected = split_units(processor, text, name)
    for spelling in (code, code.upper(), name.lower(), name.upper(), f" {name} "):
        assert split_units(processor, text, spelling) == expected
    assert language_name(code) == name


def test_japanese_code_reaches_nagisa(processor):
    assert split_units(processor, JA, "ja") == ["今日", "は", "いい", "天気", "です", "ね"]
    # without the name mapping transformers falls back to one unit per kanji
    assert processor.split_words_for_alignment(JA, "ja") != [
        "今日",
        "は",
        "いい",
        "天気",
        "です",
        "ね",
    ]


def test_missing_korean_dictionary_is_a_clear_error(processor, tmp_path, monkeypatch):
    from alignadapt.model import prompt

    prompt._korean_tokenizer.cache_clear()
    missing = tmp_path / "nowhere.dict"
    monkeypatch.setenv("ALIGNADAPT_KOREAN_DICT", str(missing))
    try:
        with pytest.raises(
            FileNotFoundError, match=r"nowhere\.dict.*python -m alignadapt\.model\.korean_dict"
        ):
            split_units(processor, "날씨가 좋네요", "ko")
    finally:
        prompt._korean_tokenizer.cache_clear()


def test_dictionary_is_read_out_of_the_wheel_and_hash_checked(tmp_path):
    import zipfile

    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    data = korean_dict.dictionary_path().read_bytes()
    with zipfile.ZipFile(wheel_dir / "qwen_asr-0.0.6-py3-none-any.whl", "w") as z:
        z.writestr(korean_dict.MEMBER, data)
    dest = korean_dict.fetch(tmp_path / "out" / "k.dict", wheel_dir=wheel_dir)
    assert dest.read_bytes() == data
    with zipfile.ZipFile(wheel_dir / "qwen_asr-0.0.6-py3-none-any.whl", "w") as z:
        z.writestr(korean_dict.MEMBER, data + b"x 1 n\n")
    with pytest.raises(ValueError, match="sha256"):
        korean_dict.fetch(tmp_path / "out" / "k.dict", wheel_dir=wheel_dir, force=True)
    assert dest.read_bytes() == data  # a bad wheel leaves the good copy alone


def test_validation_accepts_every_suggested_language_and_splits_it(processor, tmp_path):
    """Validation suggests the names and ISO codes: each must split as the name does."""
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(16000, dtype=np.float32), 16000)
    texts = {"Japanese": JA, "Korean": "날씨가 좋네요", "Chinese": "你好", "Cantonese": "我哋"}
    codes = {n: c for c, n in LANGUAGE_CODE_TO_NAME.items() if n in FORCED_ALIGNER_LANGUAGES}
    lines, expected = [], {}
    for name in sorted(FORCED_ALIGNER_LANGUAGES):
        text = texts.get(name, "hello world")
        for spelling in (name, codes[name]):
            lines.append(json.dumps({"audio_path": "a.wav", "text": text, "language": spelling}))
            expected[text, spelling] = split_units(processor, text, name)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen = {}

    def split(text, language):
        seen[text, language] = split_units(processor, text, language)
        return seen[text, language]

    issues, summary = check_manifest(manifest, split, progress=False)
    assert [i for i in issues if not i.warning] == []
    assert {key: seen[key] for key in expected} == expected
    assert seen["今日はいい天気ですね。", "ja"] == ["今日", "は", "いい", "天気", "です", "ね"]
    assert dict(summary.languages) == {n: 2 for n in FORCED_ALIGNER_LANGUAGES}


def test_unit_breaks_mark_the_units_a_clause_ends_on():
    from alignadapt.model.prompt import unit_breaks

    units = ["Hello", "world", "The", "cat", "sat", "ok"]
    got = unit_breaks("Hello, world. The cat sat; ok", units)
    assert got.tolist() == [True, True, False, False, True, True]
    assert unit_breaks("你好，世界。再见", list("你好世界再见")).tolist() == [
        False, True, False, True, False, True,
    ]  # fmt: skip
    # no punctuation, or units the text does not hold in order: only the last unit
    assert unit_breaks("a b c", ["a", "b", "c"]).tolist() == [False, False, True]
    assert unit_breaks("a, b", ["x", "b"]).tolist() == [False, True]
