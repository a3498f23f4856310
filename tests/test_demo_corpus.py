"""The broad demo corpus: joined words timed from phonemes, Mandarin per character, held-out
voices and sentences, recording conditions that keep word times, a reproducible stream."""

import shutil

import numpy as np
import pytest

from alignadapt.demo.broad import LANGUAGES, TEST_VARIANTS, TRAIN_VARIANTS, voice_for
from alignadapt.demo.degrade import codec_round_trip, reverberate, telephone
from alignadapt.demo.text import GRAMMARS, held_out, sentences

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs the espeak-ng Debian package"
)


def sounding(audio: np.ndarray, rate: int, start: float, end: float) -> float:
    """Loudest 10 ms frame in [start, end) in dB under the loudest frame of the audio."""
    frame = rate // 100
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame).astype(np.float64) ** 2, 1))
    db = 20 * np.log10(rms / rms.max() + 1e-12)
    return float(db[int(start * 100) : max(int(end * 100), int(start * 100) + 1)].max())


@needs_espeak
def test_words_espeak_joins_are_timed_from_their_phonemes():
    from alignadapt.demo.espeak import EVENT_WORD, Espeak

    engine = Espeak()
    text = "she looked at a cat at a house"
    syn = engine.synthesize(text, voice="en-us", rate=175)
    word_events = [e for e in engine._events if e[0] == EVENT_WORD and e[1] > 0]
    assert len(word_events) == 6  # espeak-ng joined both "a" to the "at" before them
    assert [w for w, _, _ in syn.words] == text.split()
    times = [(s, e) for _, s, e in syn.words]
    for (s0, e0), (s1, e1) in zip(times, times[1:], strict=False):
        assert s0 < e0 <= s1 + 1e-6 and s1 < e1
    # each derived "a" starts at a phoneme of its group, inside the group, and holds sound
    phoneme_samples = {e[2] for e in engine._events if e[0] == 7}
    for i in (3, 6):
        start, end = times[i]
        assert times[i - 1][0] < start < times[i + 1][0]
        assert any(
            abs(start * syn.sample_rate - p) <= syn.sample_rate // 100 for p in phoneme_samples
        )
        assert sounding(syn.audio, syn.sample_rate, start, end) > -25
    # the phoneme counts espeak-ng gives the words alone: at = a|t, a = 'eI
    assert engine.phoneme_count("at") == 2 and engine.phoneme_count("a") == 1


@needs_espeak
def test_mandarin_gets_one_unit_per_character_in_the_pinyin_voice():
    from alignadapt.demo.espeak import Espeak

    syn = Espeak().synthesize("我们今天去公园", voice="cmn-latn-pinyin", per_character=True)
    assert [w for w, _, _ in syn.words] == list("我们今天去公园")
    durations = [e - s for _, s, e in syn.words]
    assert min(durations) > 0.08  # a Mandarin syllable each, not a spelled-out pinyin string
    assert syn.words[-1][2] < 3.0


def test_test_sentences_never_come_out_of_the_training_side():
    rng = np.random.default_rng(0)
    for grammar in GRAMMARS:
        train = {next(sentences(grammar, rng, "train")) for _ in range(200)}
        test = {next(sentences(grammar, rng, "test")) for _ in range(30)}
        assert not any(held_out(s) for s in train) and all(held_out(s) for s in test)
        assert not train & test
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        next(sentences("en", rng, "val"))


def test_test_voices_are_never_training_voices():
    assert not set(TEST_VARIANTS) & set(TRAIN_VARIANTS)
    rng = np.random.default_rng(1)
    for language, lang in LANGUAGES.items():
        train = {voice_for(language, "train", rng) for _ in range(300)}
        test = {voice_for(language, "test", rng) for _ in range(100)}
        assert not train & test
        assert all(v.split("+")[1] in TEST_VARIANTS for v in test)
        assert all(v.split("+")[0] in lang.accents for v in train)  # test-only accents too


def test_conditions_keep_the_length_and_the_time_of_a_click():
    rate, rng = 16000, np.random.default_rng(2)
    audio = np.zeros(rate, np.float32)
    audio[8000:8040] = np.hanning(40).astype(np.float32)  # a click at 0.5 s
    for out in (
        telephone(audio, rate),
        reverberate(audio, 0.4, rate, rng),
        codec_round_trip(audio * 0.5, rate, np.random.default_rng(3)),
    ):
        assert len(out) == len(audio)
        peak = int(np.argmax(np.abs(out)))
        assert abs(peak - 8020) < 0.008 * rate, peak  # within 8 ms: no word moves


@needs_espeak
def test_the_stream_is_a_function_of_seed_epoch_and_index(processor):
    from alignadapt.demo.stream import BroadStream

    stream = BroadStream(processor, seed=5, steps_per_epoch=3, batch_seconds=6.0)
    stream.buckets = [(1.0, 3.0)]
    a, b, c = stream.batch(0, 1), stream.batch(0, 1), stream.batch(1, 1)
    assert [e.units for e in a] == [e.units for e in b]
    assert all(np.array_equal(x.audio, y.audio) for x, y in zip(a, b, strict=True))
    assert [e.units for e in a] != [e.units for e in c]
    assert len(a) == 2  # 6 s of audio a batch / 3 s at most an utterance
    for example in a:
        assert len(example.units) == len(example.spans)
        assert 0 < len(example.audio) / 16000 <= 3.0
        assert example.language in {lang.name for lang in LANGUAGES.values()}


@needs_espeak
def test_broad_datamodule_collates_labelled_batches(tiny_dir):
    from alignadapt.data.datamodule import AlignDataModule
    from alignadapt.demo.stream import BroadSource

    source = BroadSource(
        steps_per_epoch=2,
        val_batches=1,
        batch_seconds=6.0,
        buckets=[[1.0, 3.0]],
        languages={"en": 1.0, "zh": 1.0},
    )
    dm = AlignDataModule(str(tiny_dir), source=source, num_workers=0, eval_batch_size=8)
    dm.setup("fit")
    train = list(dm.train_dataloader())
    assert len(train) == 2
    batch = train[0]
    labelled = (batch["labels"] != -100).sum().item()
    assert labelled == sum(2 * len(u) for u in batch["units"])  # a start and an end per unit
    val_a, val_b = list(dm.val_dataloader()), list(dm.val_dataloader())
    assert len(val_a) == 1 and val_a[0]["keys"] == val_b[0]["keys"]


@needs_espeak
def test_wide_timing_puts_silence_and_sounds_where_text_cannot_predict_them():
    """Pretraining's timing (conf/data/demo_broad.yaml): the ends' silence up to a third of the
    call, pauses up to 2.5 s, some holding a non-speech sound; the default timing (the fixed
    test sets) is unchanged by the option."""
    from alignadapt.demo.broad import Timing, make_utterance
    from alignadapt.demo.espeak import IsolatedEspeak

    engine = IsolatedEspeak()
    wide = Timing(
        lead_s=(0.0, 3.0),
        tail_s=(0.0, 3.0),
        pause_s=(0.1, 2.5),
        max_edge_share=0.34,
        rate_change=0.3,
        nonspeech_prob=1.0,
    )
    leads, sounds = [], 0
    for i in range(12):
        rng = np.random.default_rng([3, i])
        target = float(rng.uniform(4.0, 12.0))
        utt = make_utterance(engine, rng, "en", target, timing=wide)
        first, last = utt.words[0][1], utt.words[-1][2]
        duration = len(utt.audio) / 16000
        # the lead is capped; espeak-ng adds a little silence of its own before a sentence
        assert first <= 0.34 * target + 0.15 and duration <= target + 0.01
        leads.append(first)
        gaps = [(a[2], b[1]) for a, b in zip(utt.words, utt.words[1:], strict=False)]
        gaps = [(s, e) for s, e in gaps if e - s > 0.6]  # pauses between sentences
        sounds += sum(sounding(utt.audio, 16000, s + 0.2, e - 0.2) > -40 for s, e in gaps)
        assert last <= duration
    assert max(leads) > 1.0 and min(leads) < 0.5  # the lead varies over seconds
    assert sounds >= 3  # non-speech sounds fill pauses with no word in them


@needs_espeak
def test_natural_share_speaks_the_same_utterances_with_natural_silences(processor):
    """`natural_share` of the utterances take natural silences (0.05-0.5 s ends, 0.1-1 s
    pauses) instead of `timing`'s. The sentences are drawn in the same order whatever the share
    (with shorter silences, more of them fit the call)."""
    from alignadapt.demo.stream import BroadStream

    wide = {"lead_s": [1.5, 2.0], "tail_s": [0.0, 0.5], "max_edge_share": 0.34}

    def leads_and_units(share):
        stream = BroadStream(
            processor,
            seed=2,
            steps_per_epoch=2,
            batch_seconds=16.0,
            buckets=[[6.0, 8.0]],
            languages={"en": 1.0},
            timing=wide,
            natural_share=share,
        )
        examples = stream.batch(0, 0) + stream.batch(0, 1)
        return [e.spans[0][0] for e in examples], [e.units for e in examples]

    (wide_leads, units), (natural_leads, same_units) = leads_and_units(0.0), leads_and_units(1.0)
    assert len(units) == len(same_units) == 4
    assert all(n[: len(w)] == w for n, w in zip(same_units, units, strict=True))
    assert min(wide_leads) >= 1.5  # espeak-ng adds a little silence of its own before a sentence
    assert max(natural_leads) <= 0.5 + 0.15
    mixed, _ = leads_and_units(0.5)
    assert all(x in (a, b) for x, a, b in zip(mixed, wide_leads, natural_leads, strict=True))
    with pytest.raises(ValueError, match="natural_share"):
        BroadStream(processor, seed=0, steps_per_epoch=1, natural_share=1.5)


def test_curriculum_stages_pick_languages_and_buckets_by_step(processor):
    from alignadapt.demo.stream import BroadStream

    stream = BroadStream(
        processor,
        seed=0,
        steps_per_epoch=10,
        languages={"en": 0.5, "zh": 0.5},
        stages=[
            {"until_step": 15, "languages": {"en": 1.0}, "buckets": [[1.0, 5.0]]},
            {"until_step": 30, "buckets": [[1.0, 5.0], [5.0, 10.0]]},
        ],
    )
    languages, weights, buckets = stream.stage(14)  # epoch 1, batch 4
    assert (languages, weights.tolist(), buckets) == (["en"], [1.0], [(1.0, 5.0)])
    languages, weights, buckets = stream.stage(15)
    assert (languages, weights.tolist()) == (["en", "zh"], [0.5, 0.5])
    assert buckets == [(1.0, 5.0), (5.0, 10.0)]
    assert stream.stage(30)[2] == stream.buckets  # after the last stage: everything
    with pytest.raises(ValueError, match="until_step, languages and buckets"):
        BroadStream(processor, seed=0, steps_per_epoch=1, stages=[{"until": 3}])
