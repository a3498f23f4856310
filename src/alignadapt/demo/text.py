"""Sentence generators for the demo corpus: small grammars in five languages plus English
domain speech (medical and legal), so thousands of distinct sentences come from a few lines.

Every sentence belongs to the test side or the training side by a hash of its text
(`held_out`), so no sentence of a test set is ever spoken in pretraining or in `make train`,
whatever the seeds. English, French, German and Spanish join words with spaces; Chinese joins
characters without spaces (the aligner's units are characters).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import numpy as np

# Grammar: slot -> "option|option|...", patterns use {slot}. Function words ("at a", "of the",
# "in an") are kept on purpose: espeak-ng joins some of them and the corpus must not skip them.
EN = {
    "subject": "my sister|the old man|our neighbour|a friend of mine|the children|my brother|"
    "the teacher|everyone at work|the girl next door|my father|the driver|a young woman|the kids|"
    "our team|my mother|the farmer|an engineer|the nurse|a tall stranger|the baker|his cousin|"
    "her uncle|the students|a small boy|the pilot|our manager|the painter|my grandmother",
    "verb": "walked to|looked at|talked about|drove past|waited for|cleaned|painted|visited|found|"
    "bought|carried|opened|closed|fixed|watched|called about|asked about|forgot|remembered|liked|"
    "sold|borrowed|described|pointed at|climbed|photographed|counted|moved|sent|built",
    "object": "the kitchen|a small house|the red car|the garden|some fresh bread|the morning paper|"
    "a new bicycle|the front door|an old photograph|the birthday cake|a cup of coffee|the river|"
    "the yellow chair|a good book|the shopping list|the green window|a warm blanket|"
    "the wooden table|an orange umbrella|the top of the hill|a box of apples|the edge of the lake|"
    "a piece of cheese|the back of the bus|an empty bottle|the last train|a map of the city",
    "time": "yesterday|this morning|last night|on Sunday|after lunch|before dinner|every day|"
    "in the evening|last summer|at noon|on the weekend|early today|later that day|at a quarter "
    "past nine|in an hour|at the end of the week|twice a month|on a cold morning",
    "place": "in town|near the park|at the market|by the station|on the hill|at the beach|"
    "down the street|in the village|at school|behind the shop|across the road|at a cafe|"
    "in an office|at the back of a shop|on top of a bus|in the middle of the square",
    "tail": "and then went home|with a big smile|because it was raining|before the sun went down|"
    "while the dog was sleeping|and everyone was happy|but nobody noticed|and it was lovely|"
    "so we could rest|as usual|at a very slow pace|for a while|in a hurry|without a word",
}
EN_PATTERNS = [
    "{subject} {verb} {object} {time}",
    "{subject} {verb} {object} {place} {time}",
    "{time} {subject} {verb} {object} {tail}",
    "{subject} {verb} {object} {place} {tail}",
    "{subject} {verb} {object}",
    "{place} {subject} {verb} {object} {tail}",
]
# Domain English (make train): long medical and legal terms.
EN_DOMAIN = {
    "clinician": "the cardiologist|the attending physician|the anaesthesiologist|the radiologist|"
    "the gastroenterologist|the nephrologist|the pulmonologist|the neurosurgeon|the endocrinologist",
    "finding": "atrial fibrillation|myocardial infarction|pulmonary embolism|"
    "hypertrophic cardiomyopathy|diabetic ketoacidosis|subarachnoid haemorrhage|thrombocytopenia|"
    "hepatosplenomegaly|pneumothorax|cholecystitis|glomerulonephritis|bronchiectasis|"
    "hyperkalaemia|pericarditis",
    "test": "echocardiography|electrocardiogram|bronchoscopy|colonoscopy|angiography|"
    "magnetic resonance imaging|computed tomography|spirometry|electroencephalography|"
    "ultrasonography",
    "drug": "amiodarone|metoprolol|enoxaparin|levothyroxine|piperacillin|vancomycin|furosemide|"
    "methylprednisolone|spironolactone|acetylcysteine|ciprofloxacin|dexamethasone",
    "party": "the plaintiff|the defendant|the appellant|the respondent|opposing counsel|"
    "the prosecution|the petitioner|the intervenor|the claimant|the garnishee",
    "legal_act": "filed a motion for summary judgment|raised an objection to the testimony|"
    "submitted an affidavit|requested a continuance|challenged the admissibility of the evidence|"
    "invoked attorney client privilege|moved to suppress the statements|"
    "appealed the interlocutory order|sought injunctive relief|asserted an affirmative defence",
    "legal_term": "the indemnification clause|the statute of limitations|the deposition transcript|"
    "the subpoena duces tecum|the arbitration agreement|the jurisdictional requirements|"
    "the fiduciary obligations|the habeas corpus petition|the restitution order",
}
EN_DOMAIN_PATTERNS = [
    "{clinician} confirmed {finding} on {test}",
    "the patient with {finding} was started on {drug}",
    "{clinician} ordered {test} to exclude {finding}",
    "after {test} {clinician} discontinued {drug}",
    "{party} {legal_act}",
    "{party} {legal_act} regarding {legal_term}",
    "counsel argued that {legal_term} barred the claim",
    "{party} disputed {legal_term} before the tribunal",
]
FR = {
    "subject": "ma soeur|le vieil homme|notre voisin|les enfants|mon frère|le professeur|"
    "une jeune femme|le chauffeur|ma mère|le boulanger|un ami|les étudiants|le médecin|mon oncle",
    "verb": "a regardé|a acheté|a ouvert|a fermé|a trouvé|a nettoyé|a visité|a oublié|a porté|"
    "a réparé|a vendu|a dessiné|a cherché|a montré",
    "object": "la cuisine|une petite maison|la voiture rouge|le jardin|du pain frais|le journal|"
    "un nouveau vélo|la porte|une vieille photo|le gâteau|une tasse de café|la rivière|"
    "la chaise jaune|un bon livre|la fenêtre verte|une couverture chaude|la table en bois",
    "time": "hier|ce matin|hier soir|dimanche|après le déjeuner|avant le dîner|tous les jours|"
    "le soir|l'été dernier|à midi|le week-end|plus tard",
    "place": "en ville|près du parc|au marché|à la gare|sur la colline|à la plage|dans la rue|"
    "au village|à l'école|derrière le magasin",
    "tail": "puis il est rentré|avec un grand sourire|parce qu'il pleuvait|avant la nuit|"
    "et tout le monde était content|mais personne n'a rien vu|comme d'habitude",
}
DE = {
    "subject": "meine Schwester|der alte Mann|unser Nachbar|die Kinder|mein Bruder|der Lehrer|"
    "eine junge Frau|der Fahrer|meine Mutter|der Bäcker|ein Freund|die Studenten|die Ärztin|"
    "mein Onkel",
    "verb": "hat gesehen|hat gekauft|hat geöffnet|hat geschlossen|hat gefunden|hat geputzt|"
    "hat besucht|hat vergessen|hat getragen|hat repariert|hat verkauft|hat gemalt|hat gesucht",
    "object": "die Küche|ein kleines Haus|das rote Auto|den Garten|frisches Brot|die Zeitung|"
    "ein neues Fahrrad|die Haustür|ein altes Foto|den Kuchen|eine Tasse Kaffee|den Fluss|"
    "den gelben Stuhl|ein gutes Buch|das grüne Fenster|eine warme Decke|den Holztisch",
    "time": "gestern|heute Morgen|gestern Abend|am Sonntag|nach dem Mittagessen|vor dem Abendessen|"
    "jeden Tag|am Abend|letzten Sommer|am Mittag|am Wochenende|später",
    "place": "in der Stadt|am Park|auf dem Markt|am Bahnhof|auf dem Hügel|am Strand|"
    "auf der Straße|im Dorf|in der Schule|hinter dem Laden",
    "tail": "und ging dann nach Hause|mit einem großen Lächeln|weil es regnete|vor Sonnenuntergang|"
    "und alle waren froh|aber niemand hat es bemerkt|wie immer",
}
ES = {
    "subject": "mi hermana|el anciano|nuestro vecino|los niños|mi hermano|el profesor|"
    "una mujer joven|el conductor|mi madre|el panadero|un amigo|los estudiantes|la médica|mi tío",
    "verb": "miró|compró|abrió|cerró|encontró|limpió|visitó|olvidó|llevó|arregló|vendió|dibujó|"
    "buscó|pintó",
    "object": "la cocina|una casa pequeña|el coche rojo|el jardín|pan fresco|el periódico|"
    "una bicicleta nueva|la puerta|una foto vieja|el pastel|una taza de café|el río|"
    "la silla amarilla|un buen libro|la ventana verde|una manta caliente|la mesa de madera",
    "time": "ayer|esta mañana|anoche|el domingo|después del almuerzo|antes de la cena|cada día|"
    "por la tarde|el verano pasado|al mediodía|el fin de semana|más tarde",
    "place": "en la ciudad|cerca del parque|en el mercado|en la estación|en la colina|en la playa|"
    "en la calle|en el pueblo|en la escuela|detrás de la tienda",
    "tail": "y luego volvió a casa|con una gran sonrisa|porque llovía|antes de la noche|"
    "y todos estaban contentos|pero nadie se dio cuenta|como siempre",
}
ROMANCE_PATTERNS = [
    "{subject} {verb} {object} {time}",
    "{subject} {verb} {object} {place} {time}",
    "{time} {subject} {verb} {object} {tail}",
    "{subject} {verb} {object} {place} {tail}",
    "{subject} {verb} {object}",
]
ZH = {  # characters espeak-ng's cmn-latn-pinyin voice reads as Mandarin syllables
    "subject": "我|我们|他|她|我的朋友|老师|学生|我妈妈|我爸爸|那个孩子|我的姐姐|医生|小王|大家",
    "time": "今天|明天|昨天|早上|晚上|下午|每天|上个星期|周末|现在",
    "place": "在家里|在学校|在公园|在商店|在北京|在上海|在路上|在饭馆|在图书馆|在办公室",
    "verb": "吃|买|看|喝|写|找|做|带|卖|画",
    "object": "一本书|米饭|一杯茶|水果|一封信|新衣服|一张画|早饭|面条|一些花|很多东西|报纸",
    "tail": "很高兴|非常好|觉得很累|说了很多话|笑了|回家了|没有时间|很开心",
}
ZH_PATTERNS = [
    "{subject}{time}{place}{verb}{object}",
    "{time}{subject}{verb}{object}",
    "{subject}{place}{verb}{object}{tail}",
    "{subject}{time}{tail}",
    "{time}{subject}{place}{verb}{object}{tail}",
]

GRAMMARS: dict[str, tuple[dict[str, str], list[str]]] = {
    "en": (EN, EN_PATTERNS),
    "en_domain": (EN_DOMAIN, EN_DOMAIN_PATTERNS),
    "fr": (FR, ROMANCE_PATTERNS),
    "de": (DE, ROMANCE_PATTERNS),
    "es": (ES, ROMANCE_PATTERNS),
    "zh": (ZH, ZH_PATTERNS),
}
TEST_SHARE = 8  # one sentence in 8 (by hash) is kept for the test sets


def held_out(sentence: str) -> bool:
    """True for sentences reserved for the test sets (a fixed hash of the text)."""
    return zlib.crc32(sentence.encode("utf-8")) % TEST_SHARE == 0


def sentences(grammar: str, rng: np.random.Generator, split: str = "train") -> Iterator[str]:
    """Endless sentences of `grammar` (a GRAMMARS key) from the `split` side ('train' or
    'test'): never a sentence of the other side."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    slots, patterns = GRAMMARS[grammar]
    options = {k: v.split("|") for k, v in slots.items()}
    want_test = split == "test"
    while True:
        pattern = patterns[rng.integers(len(patterns))]
        picks = {k: v[rng.integers(len(v))] for k, v in options.items()}
        text = pattern.format(**picks)
        if held_out(text) == want_test:
            yield text
