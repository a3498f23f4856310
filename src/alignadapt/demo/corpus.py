"""The demo corpus: real synthetic speech (espeak-ng) with exact word times.

- general: everyday English, one voice (en-us), 150-190 words per minute;
- domain: medical and legal English with long technical terms, other English voices,
  200-260 words per minute, light noise;
split into domain train/val/test and a general test (to measure forgetting), plus, for
pretraining the demo base, as many fresh general utterances as asked for. Sentences come
from small grammars, so thousands of utterances are distinct. Seeds make it reproducible up to
espeak-ng's own behaviour across versions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..data.audio import resample
from ..data.manifest import Utterance, to_record, write_jsonl
from ..model.prompt import SAMPLE_RATE

# ---- sentence grammars --------------------------------------------------------------
GENERAL = {
    "subject": "my sister|the old man|our neighbour|a friend of mine|the children|my brother|the teacher|"
    "everyone at work|the girl next door|my father|the driver|a young woman|the kids|our team|my mother",
    "verb": "walked to|looked at|talked about|drove past|waited for|cleaned|painted|visited|found|bought|"
    "carried|opened|closed|fixed|watched|called about|asked about|forgot|remembered|liked",
    "object": "the kitchen|a small house|the red car|the garden|some fresh bread|the morning paper|"
    "a new bicycle|the front door|an old photograph|the birthday cake|a cup of coffee|the river|"
    "the yellow chair|a good book|the shopping list|the green window|a warm blanket|the wooden table",
    "time": "yesterday|this morning|last night|on Sunday|after lunch|before dinner|every day|"
    "in the evening|last summer|at noon|on the weekend|early today|later that day",
    "place": "in town|near the park|at the market|by the station|on the hill|at the beach|"
    "down the street|in the village|at school|behind the shop|across the road",
    "tail": "and then went home|with a big smile|because it was raining|before the sun went down|"
    "while the dog was sleeping|and everyone was happy|but nobody noticed|and it was lovely|"
    "so we could rest|as usual",
}
GENERAL_PATTERNS = [
    "{subject} {verb} {object} {time}",
    "{subject} {verb} {object} {place} {time}",
    "{time} {subject} {verb} {object} {tail}",
    "{subject} {verb} {object} {place} {tail}",
    "{subject} {verb} {object}",
]
DOMAIN = {
    "clinician": "the cardiologist|the attending physician|the anaesthesiologist|the radiologist|"
    "the gastroenterologist|the nephrologist|the pulmonologist|the neurosurgeon|the endocrinologist",
    "finding": "atrial fibrillation|myocardial infarction|pulmonary embolism|hypertrophic cardiomyopathy|"
    "diabetic ketoacidosis|subarachnoid haemorrhage|thrombocytopenia|hepatosplenomegaly|"
    "pneumothorax|cholecystitis|glomerulonephritis|bronchiectasis|hyperkalaemia|pericarditis",
    "test": "echocardiography|electrocardiogram|bronchoscopy|colonoscopy|angiography|"
    "magnetic resonance imaging|computed tomography|spirometry|electroencephalography|ultrasonography",
    "drug": "amiodarone|metoprolol|enoxaparin|levothyroxine|piperacillin|vancomycin|furosemide|"
    "methylprednisolone|spironolactone|acetylcysteine|ciprofloxacin|dexamethasone",
    "party": "the plaintiff|the defendant|the appellant|the respondent|opposing counsel|the prosecution|"
    "the petitioner|the intervenor|the claimant|the garnishee",
    "legal_act": "filed a motion for summary judgment|raised an objection to the testimony|"
    "submitted an affidavit|requested a continuance|challenged the admissibility of the evidence|"
    "invoked attorney client privilege|moved to suppress the statements|appealed the interlocutory order|"
    "sought injunctive relief|asserted an affirmative defence",
    "legal_term": "the indemnification clause|the statute of limitations|the deposition transcript|"
    "the subpoena duces tecum|the arbitration agreement|the jurisdictional requirements|"
    "the fiduciary obligations|the habeas corpus petition|the restitution order",
}
DOMAIN_PATTERNS = [
    "{clinician} confirmed {finding} on {test}",
    "the patient with {finding} was started on {drug}",
    "{clinician} ordered {test} to exclude {finding}",
    "after {test} {clinician} discontinued {drug}",
    "{party} {legal_act}",
    "{party} {legal_act} regarding {legal_term}",
    "counsel argued that {legal_term} barred the claim",
    "{party} disputed {legal_term} before the tribunal",
]

GENERAL_VOICE = "en-us"
DOMAIN_VOICES = ("en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-us-nyc")


def sentences(
    grammar: dict[str, str], patterns: list[str], rng: np.random.Generator
) -> Iterator[str]:
    options = {k: v.split("|") for k, v in grammar.items()}
    while True:
        pattern = patterns[rng.integers(len(patterns))]
        yield pattern.format(**{k: v[rng.integers(len(v))] for k, v in options.items()})


@dataclass
class DemoSpec:
    domain_train: int = 400
    domain_val: int = 80
    domain_test: int = 150
    general_test: int = 150
    general_replay: int = 300  # general utterances to mix into domain training (data.replay)
    general_train: int = 0  # fresh general utterances for pretraining the demo base (make pretrain)
    general_val: int = 0
    seed: int = 7


def _utterance(
    engine, text: str, voice: str, rate: int, noise_snr_db: float | None, rng
) -> tuple[np.ndarray, list]:
    syn = engine.synthesize(text, voice=voice, rate=rate)
    audio = resample(syn.audio, syn.sample_rate, SAMPLE_RATE)
    lead = np.zeros(int(rng.uniform(0.15, 0.4) * SAMPLE_RATE), np.float32)
    tail = np.zeros(int(rng.uniform(0.15, 0.4) * SAMPLE_RATE), np.float32)
    audio = np.concatenate([lead, audio, tail])
    offset = len(lead) / SAMPLE_RATE
    if noise_snr_db is not None:
        power = np.mean(audio**2) + 1e-12
        audio = audio + rng.normal(
            0, np.sqrt(power / 10 ** (noise_snr_db / 10)), len(audio)
        ).astype(np.float32)
    words = [
        {"word": w, "start": round(s + offset, 4), "end": round(e + offset, 4)}
        for w, s, e in syn.words
    ]
    return np.clip(audio, -1, 1).astype(np.float32), words


def write_split(
    out_dir: Path,
    name: str,
    count: int,
    kind: str,
    seed: int,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Synthesise `count` utterances of `kind` ('general' or 'domain') into out_dir/name.jsonl."""
    from .espeak import Espeak

    manifest = out_dir / f"{name}.jsonl"
    if manifest.exists() and not force:
        return manifest
    rng = np.random.default_rng(seed)
    engine = Espeak()
    grammar, patterns = (
        (GENERAL, GENERAL_PATTERNS) if kind == "general" else (DOMAIN, DOMAIN_PATTERNS)
    )
    texts = sentences(grammar, patterns, rng)
    (out_dir / name).mkdir(parents=True, exist_ok=True)
    records, skipped = [], 0
    bar = tqdm(total=count, desc=f"synthesising {name}", disable=not progress)
    while len(records) < count:
        i = len(records)
        text = next(texts)
        if kind == "general":
            voice, rate, snr = GENERAL_VOICE, int(rng.integers(150, 191)), None
        else:
            voice, rate = (
                # voices in runs of 25: switching voice reloads espeak-ng's tables (~0.3 s)
                DOMAIN_VOICES[(i // 25) % len(DOMAIN_VOICES)],
                int(rng.integers(200, 261)),
            )
            snr = float(rng.uniform(20, 30))  # light noise
        try:
            audio, words = _utterance(engine, text, voice, rate, snr, rng)
        except ValueError:  # espeak merged two words into one event: no exact time, draw another
            skipped += 1
            continue
        bar.update(1)
        rel = f"{name}/{name}_{i:06d}.flac"
        sf.write(out_dir / rel, audio, SAMPLE_RATE, subtype="PCM_16")
        spans = [(w["start"], w["end"]) for w in words]
        utt = Utterance(Path(rel), text, spans, "English", len(audio) / SAMPLE_RATE)
        record = to_record(utt, [w["word"] for w in words])
        records.append({**record, "voice": voice, "rate_wpm": rate})
    bar.close()
    write_jsonl(manifest, records, force=True)
    if skipped:
        print(
            f"{name}: {count} utterances written; {skipped} drawn sentences were replaced by "
            "others because espeak-ng gave one of their words no time of its own (harmless: "
            "no utterance has a guessed time)"
        )
    return manifest


def make_demo_corpus(
    out_dir: str | Path, spec: DemoSpec | None = None, force: bool = False
) -> dict[str, Path]:
    spec = spec or DemoSpec()
    out_dir = Path(out_dir)
    plan = {
        "domain_train": (spec.domain_train, "domain", spec.seed),
        "domain_val": (spec.domain_val, "domain", spec.seed + 1),
        "domain_test": (spec.domain_test, "domain", spec.seed + 2),
        "general_test": (spec.general_test, "general", spec.seed + 3),
        "general_replay": (spec.general_replay, "general", spec.seed + 6),
        "general_train": (spec.general_train, "general", spec.seed + 4),
        "general_val": (spec.general_val, "general", spec.seed + 5),
    }
    return {
        name: write_split(out_dir, name, n, kind, seed, force)
        for name, (n, kind, seed) in plan.items()
        if n > 0
    }
