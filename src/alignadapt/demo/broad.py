"""Broad synthetic speech for pretraining and testing the demo base: five languages, every
espeak-ng voice and variant but a few kept for testing, 110-330 words per minute, pitch and
level ranges, noise, rooms, telephone lines and codecs, utterances of 1 to 30 s (or minutes)
made of several sentences with pauses between them.

One utterance is a pure function of a numpy Generator, so a stream of them is reproducible
from a seed. Voices and sentences split into a training side and a test side: the test side
uses variants (speakers) and accents never used for training, and sentences the hash in
`text.held_out` reserves for testing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.audio import resample
from ..model.prompt import SAMPLE_RATE
from .degrade import Conditions, degrade
from .espeak import EspeakCrashed
from .text import sentences


@dataclass(frozen=True)
class Language:
    name: str  # the processor's language name
    accents: tuple[str, ...]  # espeak-ng voices used for training (and testing)
    test_accents: tuple[str, ...] = ()  # voices used only for testing
    per_character: bool = False  # one unit per character (Chinese)


LANGUAGES: dict[str, Language] = {
    "en": Language(
        "English",
        ("en-us", "en", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-029", "en-us-nyc"),
        ("en-gb-x-gbcwmd",),
    ),
    "fr": Language("French", ("fr", "fr-be"), ("fr-ch",)),
    "de": Language("German", ("de",)),
    "es": Language("Spanish", ("es",), ("es-419",)),
    # espeak-ng's `cmn` voice reads most characters as pinyin spelled out in English ("men five"
    # for 们); `cmn-latn-pinyin` reads them as Mandarin syllables with tones.
    "zh": Language("Chinese", ("cmn-latn-pinyin",), per_character=True),
}
# espeak-ng's voice variants (speakers): the test ones are never used for training.
TRAIN_VARIANTS = [
    "Alex",
    "Alicia",
    "Andy",
    "Annie",
    "AnxiousAndy",
    "Demonic",
    "Denis",
    "Diogo",
    "Gene",
    "Gene2",
    "Henrique",
    "Hugo",
    "Jacky",
    "Lee",
    "Marco",
    "Mario",
    "Michael",
    "Nguyen",
    "RicishayMax",
    "RicishayMax2",
    "RicishayMax3",
    "Storm",
    "Tweaky",
    "UniRobot",
    "adam",
    "anika",
    "anikaRobot",
    "announcer",
    "antonio",
    "aunty",
    "benjamin",
    "boris",
    "caleb",
    "croak",
    "david",
    "ed",
    "edward",
    "edward2",
    "f1",
    "f2",
    "f3",
    "f5",
    "fast",
    "gustave",
    "iven",
    "iven2",
    "iven3",
    "iven4",
    "john",
    "kaukovalta",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt5",
    "klatt6",
    "linda",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m7",
    "m8",
    "marcelo",
    "max",
    "michel",
    "miguel",
    "norbert",
    "pablo",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robosoft",
    "robosoft2",
    "robosoft3",
    "robosoft4",
    "robosoft5",
    "robosoft6",
    "robosoft7",
    "robosoft8",
    "sandro",
    "shelby",
    "steph",
    "steph3",
    "victor",
    "whisper",
    "whisperf",
    "zac",
]
TEST_VARIANTS = [
    "f4",
    "m6",
    "klatt4",
    "Andrea",
    "Mike",
    "steph2",
    "robert",
    "grandma",
    "grandpa",
    "travis",
    "belinda",
]
RATE_WPM = (110, 330)


@dataclass(frozen=True)
class Timing:
    """Where the silences and other sounds of an utterance go. The defaults are the fixed test
    sets' (and the first demo base's corpus): 0.05-0.5 s at either end and pauses of 0.1-1 s,
    from which text and call length alone predict word times well enough that a model trained
    on them need not listen (it did not). Pretraining widens them (conf/data/demo_broad.yaml).

    - `lead_s`, `tail_s`, `pause_s`: seconds, drawn uniformly;
    - `max_edge_share`: silence at either end at most this share of the target length;
    - `rate_change`: each sentence's rate drawn within +- this share of the speaker's;
    - `nonspeech_prob`: chance that a pause (or the leading silence) holds a non-speech sound
      instead (a tone, a noise burst or a hum of `nonspeech_s` seconds), which has no words.
    """

    lead_s: tuple[float, float] = (0.05, 0.5)
    tail_s: tuple[float, float] = (0.05, 0.5)
    pause_s: tuple[float, float] = (0.1, 1.0)
    max_edge_share: float = 1.0
    rate_change: float = 0.0
    nonspeech_prob: float = 0.0
    nonspeech_s: tuple[float, float] = (0.3, 2.0)

    @classmethod
    def from_dict(cls, values: dict | None) -> Timing:
        values = dict(values or {})
        for key in ("lead_s", "tail_s", "pause_s", "nonspeech_s"):
            if key in values:
                values[key] = tuple(float(x) for x in values[key])
        return cls(**values)


def nonspeech(rng: np.random.Generator, samples: int, level: float) -> np.ndarray:
    """A sound that is not speech, `samples` long at 16 kHz, peak `level`: a gliding tone,
    a band of noise in bursts, or a mains hum with harmonics."""
    t = np.arange(samples) / SAMPLE_RATE
    kind = int(rng.integers(3))
    if kind == 0:
        f0 = float(rng.uniform(200, 2000))
        sound = np.sin(
            2 * np.pi * np.cumsum(f0 * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))) / SAMPLE_RATE
        )
    elif kind == 1:
        white = rng.normal(0, 1, len(t))
        width = int(rng.integers(2, 40))  # a moving average: from hiss to rumble
        sound = np.convolve(white, np.ones(width) / width, mode="same")
        sound *= (np.sin(2 * np.pi * float(rng.uniform(0.5, 6)) * t) > -0.3).astype(float)
    else:
        f0 = float(rng.choice([50.0, 60.0]))
        sound = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02) if len(t) else t
    sound = sound * fade
    peak = np.abs(sound).max() if len(sound) else 1.0
    return (level * sound / max(peak, 1e-9)).astype(np.float32)


BUCKETS = ((1.0, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, 30.0))  # seconds


def voice_for(language: str, split: str, rng: np.random.Generator) -> str:
    """An espeak-ng voice name: a training accent and variant, or (split 'test') a test
    variant on any accent, test-only accents included."""
    lang = LANGUAGES[language]
    if split == "test":
        accents = lang.accents + lang.test_accents
        return f"{accents[rng.integers(len(accents))]}+{TEST_VARIANTS[rng.integers(len(TEST_VARIANTS))]}"
    accent = lang.accents[rng.integers(len(lang.accents))]
    if rng.random() < 0.15:
        return accent  # the accent's own default speaker
    return f"{accent}+{TRAIN_VARIANTS[rng.integers(len(TRAIN_VARIANTS))]}"


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono at 16 kHz
    text: str
    language: str  # processor name ("English", "Chinese", ...)
    words: list[tuple[str, float, float]]  # one per unit of the text, seconds
    info: dict = field(default_factory=dict)  # voice, rate, conditions applied


def make_utterance(
    engine,
    rng: np.random.Generator,
    language: str,
    target_s: float,
    split: str = "train",
    grammar: str | None = None,
    conditions: Conditions | None = None,
    voice: str | None = None,
    speaker: tuple[int, int, int] | None = None,
    timing: Timing | None = None,
) -> Utterance:
    """Speak sentences of `grammar` (default: the language's) in one voice and rate with
    pauses between them until about `target_s` seconds, never longer. A first sentence longer
    than the target is cut at a word boundary, so 1-second utterances exist too. `speaker`:
    (words per minute, pitch, pitch range) to keep one speaker across utterances (a long
    recording), else drawn (`rng` advances the same either way).

    EspeakCrashed when libespeak-ng crashes on three sentences in this voice and pitch (it
    crashes on some combinations, see `alignadapt.demo.espeak`): the caller draws another
    speaker."""
    lang = LANGUAGES[language]
    voice = voice or voice_for(language, split, rng)
    rate = int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1))
    pitch, pitch_range = int(rng.integers(15, 86)), int(rng.integers(10, 91))
    if speaker is not None:
        rate, pitch, pitch_range = speaker
    timing = timing or Timing()
    edge = timing.max_edge_share * target_s
    lead = min(float(rng.uniform(*timing.lead_s)), edge)
    tail = min(float(rng.uniform(*timing.tail_s)), edge)
    # own streams for what depends on the audio's length: `rng` advances by the same amount
    # for every utterance, so the next one does not depend on how long this one came out
    text_rng, pause_rng, condition_rng = rng.spawn(3)
    texts = sentences(grammar or language, text_rng, split)
    pieces = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
    if timing.nonspeech_prob > 0 and pause_rng.random() < timing.nonspeech_prob:
        pieces[0] = _with_sound(pieces[0], pause_rng)
    words: list[tuple[str, float, float]] = []
    spoken: list[str] = []
    t, failures, crashes = lead, 0, 0
    while True:
        sentence = next(texts)
        sentence_rate = rate
        if timing.rate_change > 0:  # the speaker speeds up and slows down between sentences
            change = pause_rng.uniform(-timing.rate_change, timing.rate_change)
            sentence_rate = int(np.clip(rate * (1 + change), 80, 450))
        try:
            syn = engine.synthesize(
                sentence, voice, sentence_rate, pitch, pitch_range, per_character=lang.per_character
            )
        except EspeakCrashed:
            crashes += 1
            if crashes == 3:
                raise
            continue
        except ValueError:  # no exact time for some word: draw another sentence
            failures += 1
            if failures > 50:
                raise RuntimeError(
                    f"espeak-ng keeps failing on {language} with voice {voice}"
                ) from None
            continue
        audio = resample(syn.audio, syn.sample_rate, SAMPLE_RATE)
        room = target_s - tail - t
        if len(audio) / SAMPLE_RATE > room:
            if words:
                break
            # the first sentence alone is too long: keep the words that fit (at least one)
            keep = max(1, sum(1 for _, _, end in syn.words if end <= room))
            cut = syn.words[keep - 1][2]
            if keep < len(syn.words):
                cut = min(cut + 0.05, syn.words[keep][1])
            audio = audio[: int(cut * SAMPLE_RATE)]
            syn_words = syn.words[:keep]
            joiner = "" if lang.per_character else " "
            sentence = joiner.join(w for w, _, _ in syn_words)
        else:
            syn_words = syn.words
        words += [(w, t + s, t + e) for w, s, e in syn_words]
        spoken.append(sentence)
        pieces.append(audio)
        t += len(audio) / SAMPLE_RATE
        if len(syn_words) < len(syn.words):
            break
        pause = float(pause_rng.uniform(*timing.pause_s))
        gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
        if timing.nonspeech_prob > 0 and pause_rng.random() < timing.nonspeech_prob:
            gap = _with_sound(gap, pause_rng, float(pause_rng.uniform(*timing.nonspeech_s)))
            pause = len(gap) / SAMPLE_RATE
        if t + pause >= target_s - tail:
            break
        pieces.append(gap)
        t += len(gap) / SAMPLE_RATE
    pieces.append(np.zeros(int(tail * SAMPLE_RATE), np.float32))
    audio, applied = degrade(
        np.concatenate(pieces), SAMPLE_RATE, conditions or Conditions(), condition_rng
    )
    words = [(w, round(s, 4), round(e, 4)) for w, s, e in words]
    text = ("" if lang.per_character else " ").join(spoken)
    info = {"voice": voice, "rate_wpm": rate, "pitch": pitch, **applied}
    return Utterance(audio, text, lang.name, words, info)


def _with_sound(
    silence: np.ndarray, rng: np.random.Generator, seconds: float | None = None
) -> np.ndarray:
    """`silence` with a non-speech sound in its middle, made `seconds` long at least (silence
    kept around the sound, so it never touches a word)."""
    total = max(len(silence), int((seconds or 0.0) * SAMPLE_RATE))
    margin = int(0.1 * SAMPLE_RATE)
    length = total - 2 * margin
    out = np.zeros(total, np.float32)
    if length > SAMPLE_RATE // 10:
        level = float(10 ** (rng.uniform(-20, -6) / 20)) * 0.5
        out[margin : margin + length] = nonspeech(rng, length, level)
    return out


def draw_target(rng: np.random.Generator, bucket: tuple[float, float]) -> float:
    return float(rng.uniform(*bucket))
