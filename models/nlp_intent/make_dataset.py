"""Writes benchmarks/data/nlp_intent.csv, the bundled nlp-intent data set (run once; the CSV
is the shipped artefact, this script documents how it was made and can remake it).

Utterances written for this project: requests to a home device or a help desk, in French
and English, over ten intents. Each intent has hand-written phrasings per language (with
slots such as a room, a duration or an order number), combined with polite prefixes and
suffixes, and a little noise as people type it: missing French accents, an occasional typo,
varied capitals and end punctuation. A fixed seed makes the output identical on every run.

Near-duplicates (same text once lower-cased, accent-folded and stripped of punctuation)
are kept once, so no evaluation utterance appears, even re-punctuated, in the training split.

    python -m ecoscore.models.nlp_intent.make_dataset
"""

from __future__ import annotations

import csv
import random
import re
import unicodedata
from pathlib import Path

SEED = 20260511
PER_CELL = 65  # utterances per (intent, language)
EVAL_PER_CELL = 16  # of which in the evaluation split (about 25 %)
OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "nlp_intent.csv"

# Template markers: "!" an imperative (takes polite prefixes and suffixes), "~" a French
# infinitive (takes "peux-tu", "je voudrais"...), no marker a complete sentence.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "lights_on": {
        "en": [
            "!turn on the lights",
            "!switch on the {room} light",
            "!turn the {room} lights on",
            "!light up the {room}",
            "it's too dark in the {room}",
            "lights on",
            "{room} lights on",
            "!put the lights on in the {room}",
            "I can't see a thing in here",
            "!turn on the lamp in the {room}",
            "!brighten the {room}",
            "!switch the lights on",
            "we need some light in the {room}",
            "!turn on the ceiling light",
        ],
        "fr": [
            "!allume la lumière",
            "~allumer la lumière {room_de}",
            "!allume les lampes {room_in}",
            "lumière {room_in} s'il te plaît",
            "il fait trop sombre {room_in}",
            "on n'y voit rien ici",
            "!éclaire {room_obj}",
            "~allumer {room_obj}",
            "!mets la lumière {room_in}",
            "!allume le plafonnier {room_de}",
            "~mettre un peu de lumière {room_in}",
            "!allume tout",
            "c'est tout noir {room_in}",
            "!rallume la lampe {room_de}",
        ],
    },
    "lights_off": {
        "en": [
            "!turn off the lights",
            "!switch off the {room} light",
            "!turn the {room} lights off",
            "lights off",
            "{room} lights off",
            "!kill the lights",
            "it's too bright in the {room}",
            "!shut off the lamp in the {room}",
            "!darken the {room}",
            "I'm going to bed, lights off",
            "no more light in the {room}",
            "!switch everything off in the {room}",
            "!cut the lights",
            "!turn off the ceiling light",
        ],
        "fr": [
            "!éteins la lumière",
            "~éteindre la lumière {room_de}",
            "!éteins les lampes {room_in}",
            "il y a trop de lumière {room_in}",
            "!coupe la lumière {room_in}",
            "je vais me coucher, éteins tout",
            "!ferme la lumière {room_de}",
            "extinction des feux",
            "~couper l'éclairage {room_in}",
            "~éteindre {room_obj}",
            "!éteins le plafonnier {room_de}",
            "plus de lumière {room_in}",
            "!éteins tout {room_in}",
            "!baisse à zéro la lumière {room_de}",
        ],
    },
    "set_timer": {
        "en": [
            "!set a timer for {dur}",
            "!start a {dur} timer",
            "timer for {dur}",
            "!remind me in {dur}",
            "!count down {dur}",
            "!wake me up in {dur}",
            "I need a timer for {dur}",
            "!put a timer on for the pasta, {dur}",
            "!time {dur} for the eggs",
            "!set an alarm to go off in {dur}",
            "{dur} timer",
            "!give me a countdown of {dur}",
            "!ring in {dur}",
        ],
        "fr": [
            "~mettre un minuteur de {dur}",
            "!mets un minuteur de {dur}",
            "minuteur {dur}",
            "!lance un compte à rebours de {dur}",
            "!rappelle-moi dans {dur}",
            "!réveille-moi dans {dur}",
            "j'ai besoin d'un minuteur de {dur}",
            "!programme une minuterie pour {dur}",
            "~lancer le chrono pour {dur}",
            "!minute les pâtes, {dur}",
            "~régler une minuterie sur {dur}",
            "!fais sonner dans {dur}",
            "un minuteur de {dur} pour les œufs",
        ],
    },
    "weather": {
        "en": [
            "what's the weather {day}",
            "will it rain {day}",
            "do I need an umbrella {day}",
            "how hot will it be in {city} {day}",
            "weather forecast for {city}",
            "is it going to snow {day}",
            "what's the temperature outside",
            "is it sunny in {city}",
            "should I wear a coat {day}",
            "how's the weather in {city} {day}",
            "any storms expected {day}",
            "!give me the forecast for {city}",
            "is it cold out",
            "!tell me the weather",
        ],
        "fr": [
            "quel temps fait-il {day}",
            "il va pleuvoir {day}",
            "faut-il prendre un parapluie {day}",
            "quelle température à {city} {day}",
            "météo à {city}",
            "est-ce qu'il va neiger {day}",
            "il fait combien dehors",
            "il fait beau à {city}",
            "je dois mettre un manteau {day}",
            "prévisions météo pour {city}",
            "j'aimerais connaître la météo {day}",
            "!donne-moi la météo de {city}",
            "il fait froid dehors",
            "y aura-t-il de l'orage {day}",
        ],
    },
    "play_music": {
        "en": [
            "!play {music}",
            "!put on {music}",
            "I want to listen to {music}",
            "!start my music",
            "!shuffle {music}",
            "music please",
            "!play something by {artist}",
            "!put some music on",
            "let's have {music}",
            "!resume the music",
            "I'm in the mood for {music}",
            "!play the latest album from {artist}",
            "!queue up {music}",
        ],
        "fr": [
            "!mets {music}",
            "!joue {music}",
            "~écouter {music}",
            "!lance ma musique",
            "un peu de musique",
            "!passe-moi {music}",
            "!mets la musique",
            "~mettre de la musique",
            "!relance la musique",
            "!joue un morceau de {artist}",
            "j'ai envie d'écouter {music}",
            "!mets le dernier album de {artist}",
            "~lancer {music}",
        ],
    },
    "battery_status": {
        "en": [
            "what's the battery level of {device}",
            "how much battery does {device} have left",
            "is {device} charged",
            "battery status",
            "!check the battery on {device}",
            "{device} is about to die, how much charge is left",
            "how long until {device} needs charging",
            "battery percentage of {device}",
            "does {device} need to be charged",
            "how much power is left in {device}",
            "is the battery of {device} low",
            "!tell me the charge level of {device}",
        ],
        "fr": [
            "quel est le niveau de batterie {device_de}",
            "combien de batterie reste-t-il {device_de}",
            "est-ce que {device} est chargé",
            "état de la batterie",
            "!vérifie la batterie {device_de}",
            "{device} va bientôt s'éteindre, il reste combien de charge",
            "dans combien de temps faut-il recharger {device}",
            "pourcentage de batterie {device_de}",
            "faut-il recharger {device}",
            "il reste combien d'autonomie {device_de}",
            "la batterie {device_de} est faible",
            "je voudrais connaître le niveau de charge {device_de}",
        ],
    },
    "reset_password": {
        "en": [
            "I forgot my password",
            "!reset my password",
            "I can't log in to {service}",
            "how do I change my password for {service}",
            "my password doesn't work anymore",
            "I'm locked out of {service}",
            "!send me a password reset link",
            "I need a new password for {service}",
            "it says my password is wrong",
            "I lost access to {service}, the password is rejected",
            "!help me recover my password",
            "how can I reset the password of {service}",
        ],
        "fr": [
            "j'ai oublié mon mot de passe",
            "~réinitialiser mon mot de passe",
            "je n'arrive plus à me connecter {service}",
            "comment changer mon mot de passe {service}",
            "mon mot de passe ne marche plus",
            "mon compte est bloqué",
            "!envoyez-moi un lien pour changer de mot de passe",
            "il me faut un nouveau mot de passe {service}",
            "on me dit que mon mot de passe est incorrect",
            "impossible de me connecter {service}, mot de passe refusé",
            "~récupérer mon mot de passe",
            "mot de passe oublié {service}",
        ],
    },
    "order_status": {
        "en": [
            "where is my order",
            "where's my package",
            "has order {order} shipped yet",
            "when will my order arrive",
            "!track order {order}",
            "what's the status of order {order}",
            "my parcel hasn't arrived yet",
            "is my delivery on its way",
            "I ordered {item} {past}, when will it arrive",
            "!track my package",
            "still waiting for {item} I bought {past}",
            "any news on order {order}",
            "when does {item} get delivered",
        ],
        "fr": [
            "où en est ma commande",
            "où est mon colis",
            "la commande {order} est-elle partie",
            "quand vais-je recevoir ma commande",
            "~suivre la commande {order}",
            "quel est le statut de la commande {order}",
            "mon colis n'est toujours pas arrivé",
            "la livraison est en route",
            "j'ai commandé {item} {past}, quand est-ce que ça arrive",
            "!suis mon colis",
            "j'attends toujours {item} acheté {past}",
            "des nouvelles de la commande {order}",
            "quand {item} sera livré",
        ],
    },
    "cancel_order": {
        "en": [
            "!cancel my order",
            "I want to cancel order {order}",
            "!cancel the order I placed {past}",
            "I changed my mind, cancel my purchase",
            "!stop order {order} before it ships",
            "how do I cancel an order",
            "I don't want {item} anymore, cancel it",
            "can I still cancel my order",
            "!cancel the delivery",
            "I'd like a cancellation for order {order}",
            "!call off my order of {item}",
            "I ordered {item} by mistake, cancel it",
        ],
        "fr": [
            "~annuler ma commande",
            "je veux annuler la commande {order}",
            "!annulez la commande passée {past}",
            "j'ai changé d'avis, annulez mon achat",
            "!bloquez la commande {order} avant l'expédition",
            "comment annuler une commande",
            "je ne veux plus {item}, annulez",
            "est-ce que je peux encore annuler ma commande",
            "!annule la livraison",
            "annulation de la commande {order}",
            "j'ai commandé {item} par erreur, il faut annuler",
            "~supprimer ma commande {past}",
        ],
    },
    "talk_to_agent": {
        "en": [
            "I want to talk to a human",
            "!connect me to an agent",
            "can I speak with someone",
            "!get me a real person",
            "!transfer me to customer service",
            "I need to speak to a representative",
            "this bot isn't helping, let me talk to someone",
            "!have someone call me back",
            "is there a person I can chat with",
            "operator",
            "human please",
            "!put me through to support",
            "I'd rather talk to a real agent",
        ],
        "fr": [
            "je veux parler à un humain",
            "!passez-moi un conseiller",
            "je voudrais parler à quelqu'un",
            "!mettez-moi en relation avec le service client",
            "un vrai conseiller",
            "ce robot ne m'aide pas, je veux un humain",
            "!rappelez-moi",
            "y a-t-il quelqu'un pour m'aider",
            "~joindre un opérateur",
            "conseiller",
            "~parler à une vraie personne",
            "!transférez-moi au support",
            "je préfère discuter avec un agent",
        ],
    },
}

SLOTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "room": [
            "living room",
            "kitchen",
            "bedroom",
            "bathroom",
            "office",
            "hallway",
            "garage",
            "dining room",
            "basement",
            "kids' room",
        ],
        "dur": [
            "5 minutes",
            "ten minutes",
            "1 hour",
            "30 seconds",
            "an hour and a half",
            "45 min",
            "two minutes",
            "20 minutes",
            "90 seconds",
            "3 mins",
            "a quarter of an hour",
        ],
        "city": [
            "Paris",
            "London",
            "Lyon",
            "Bordeaux",
            "New York",
            "Toulouse",
            "Nantes",
            "Berlin",
            "Montreal",
            "Brussels",
            "Dublin",
        ],
        "day": [
            "today",
            "tomorrow",
            "this weekend",
            "tonight",
            "on Monday",
            "this afternoon",
            "tomorrow morning",
            "on Saturday",
            "right now",
            "later",
        ],
        "music": [
            "some jazz",
            "Daft Punk",
            "my workout playlist",
            "something relaxing",
            "the Beatles",
            "classical music",
            "lo-fi beats",
            "Stromae",
            "rock music",
            "my favourites",
            "some hip hop",
            "the radio",
        ],
        "artist": ["Adele", "Queen", "Miles Davis", "Christine and the Queens", "Beyonce"],
        "device": [
            "my phone",
            "the headphones",
            "the speaker",
            "my watch",
            "the remote",
            "the tablet",
            "the vacuum",
            "the earbuds",
            "my laptop",
        ],
        "service": [
            "my account",
            "the app",
            "the website",
            "my email",
            "the customer portal",
            "my profile",
        ],
        "item": [
            "a blender",
            "the shoes",
            "a phone case",
            "two books",
            "a lamp",
            "the headphones",
            "a coffee machine",
            "the jacket",
        ],
        "past": [
            "last week",
            "on Monday",
            "three days ago",
            "yesterday",
            "this morning",
            "two weeks ago",
        ],
    },
    "fr": {
        "room_in": [
            "dans le salon",
            "dans la cuisine",
            "dans la chambre",
            "dans la salle de bain",
            "dans le bureau",
            "dans l'entrée",
            "au garage",
            "dans le couloir",
            "à la cave",
            "dans la chambre des enfants",
        ],
        "room_de": [
            "du salon",
            "de la cuisine",
            "de la chambre",
            "de la salle de bain",
            "du bureau",
            "de l'entrée",
            "du garage",
            "du couloir",
            "de la cave",
            "de la salle à manger",
        ],
        "room_obj": [
            "le salon",
            "la cuisine",
            "la chambre",
            "la salle de bain",
            "le bureau",
            "l'entrée",
            "le garage",
            "le couloir",
            "la salle à manger",
        ],
        "dur": [
            "5 minutes",
            "dix minutes",
            "une heure",
            "30 secondes",
            "1h30",
            "45 min",
            "deux minutes",
            "20 minutes",
            "un quart d'heure",
            "trois minutes",
            "90 secondes",
        ],
        "city": [
            "Paris",
            "Lyon",
            "Bordeaux",
            "Toulouse",
            "Nantes",
            "Marseille",
            "Lille",
            "Montréal",
            "Bruxelles",
            "Genève",
            "Rennes",
        ],
        "day": [
            "aujourd'hui",
            "demain",
            "ce week-end",
            "ce soir",
            "lundi",
            "cet après-midi",
            "demain matin",
            "samedi",
            "maintenant",
            "cette semaine",
        ],
        "music": [
            "du jazz",
            "Daft Punk",
            "ma playlist sport",
            "quelque chose de calme",
            "les Beatles",
            "de la musique classique",
            "Stromae",
            "du rock",
            "mes favoris",
            "Angèle",
            "du rap",
            "la radio",
        ],
        "artist": ["Édith Piaf", "Indochine", "Zaz", "Jacques Brel", "Aya Nakamura"],
        "device": [
            "mon téléphone",
            "le casque",
            "l'enceinte",
            "ma montre",
            "la télécommande",
            "la tablette",
            "l'aspirateur",
            "mon ordi",
        ],
        "device_de": [
            "de mon téléphone",
            "du casque",
            "de l'enceinte",
            "de ma montre",
            "de la télécommande",
            "de la tablette",
            "de l'aspirateur",
            "de mon portable",
        ],
        "service": [
            "à mon compte",
            "sur l'appli",
            "sur le site",
            "à ma messagerie",
            "à l'espace client",
            "sur mon profil",
        ],
        "item": [
            "un mixeur",
            "les chaussures",
            "une coque de téléphone",
            "deux livres",
            "une lampe",
            "le casque",
            "une machine à café",
            "la veste",
        ],
        "past": [
            "la semaine dernière",
            "lundi",
            "il y a trois jours",
            "hier",
            "ce matin",
            "il y a deux semaines",
        ],
    },
}

POLITE: dict[str, dict[str, list[str]]] = {
    "en": {
        "imp_prefix": [
            "",
            "",
            "",
            "please ",
            "can you ",
            "could you ",
            "could you please ",
            "would you ",
            "hey, ",
            "ok, ",
            "I need you to ",
            "can you please ",
            "hi, ",
        ],
        "imp_suffix": ["", "", "", " please", " thanks", " now", ", thank you", " asap"],
        "sentence_prefix": ["", "", "", "", "hi, ", "hello, ", "hey ", "excuse me, ", "um "],
        "sentence_suffix": ["", "", "", "", " please", ", thanks", " thank you"],
    },
    "fr": {
        "imp_prefix": ["", "", "", "s'il te plaît ", "stp ", "dis, ", "allez, ", "bonjour, "],
        "imp_suffix": ["", "", "", " s'il te plaît", " stp", " merci", " s'il vous plaît", " svp"],
        "inf_prefix": [
            "peux-tu ",
            "pourrais-tu ",
            "tu peux ",
            "je veux ",
            "je voudrais ",
            "merci de ",
            "est-ce que tu peux ",
            "pouvez-vous ",
            "vous pouvez ",
            "j'aimerais ",
            "pourriez-vous ",
        ],
        "inf_suffix": ["", "", " s'il te plaît", " merci", " svp", " stp"],
        "sentence_prefix": ["", "", "", "", "bonjour, ", "salut, ", "dis-moi, ", "euh "],
        "sentence_suffix": ["", "", "", "", " svp", ", merci", " s'il vous plaît"],
    },
}

END_PUNCT = ["", "", "", "", "?", "!", "."]


def dedup_key(text: str) -> str:
    """A text once lower-cased, accent-folded and stripped of punctuation and spacing."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", folded).split())


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).replace("œ", "oe")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare)


def add_typo(text: str, rng: random.Random) -> str:
    """One keyboard slip in a word of four letters or more: swap, drop or double a letter."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == "drop":
        w = w[:j] + w[j + 1 :]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def order_number(rng: random.Random) -> str:
    """An order reference as customers type it: bare digits, with a hash, or a prefix."""
    digits = str(rng.randrange(10_000, 1_000_000))
    return rng.choice(("", "", "#", "no. ", "CMD-", "A")) + digits


def fill(template: str, lang: str, rng: random.Random) -> str:
    def slot(m: re.Match[str]) -> str:
        name = m.group(1)
        return order_number(rng) if name == "order" else rng.choice(SLOTS[lang][name])

    return re.sub(r"\{(\w+)\}", slot, template)


def wrap(body: str, prefixes: list[str], suffixes: list[str], rng: random.Random) -> str:
    """Add a polite prefix and suffix; a prefix makes a second courtesy less likely."""
    prefix = rng.choice(prefixes)
    suffix = rng.choice(suffixes) if not prefix.strip() or rng.random() < 0.3 else ""
    return prefix + body + suffix


def realise(template: str, lang: str, rng: random.Random) -> str:
    """One utterance from a template: slots, politeness, then the way people type."""
    polite = POLITE[lang]
    if template.startswith("!"):
        text = wrap(fill(template[1:], lang, rng), polite["imp_prefix"], polite["imp_suffix"], rng)
    elif template.startswith("~"):
        text = wrap(fill(template[1:], lang, rng), polite["inf_prefix"], polite["inf_suffix"], rng)
    else:
        body = fill(template, lang, rng)
        text = wrap(body, polite["sentence_prefix"], polite["sentence_suffix"], rng)
    text = text.strip()
    if lang == "fr":  # elision: "merci de annuler" -> "merci d'annuler"
        text = re.sub(r"\bde ([aeiouéèêâ])", r"d'\1", text)
    if lang == "fr" and rng.random() < 0.3:
        text = strip_accents(text)
    if rng.random() < 0.08:
        text = add_typo(text, rng)
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    punct = rng.choice(END_PUNCT)
    if lang == "fr" and punct in ("?", "!") and rng.random() < 0.5:
        punct = " " + punct  # French typography puts a space before ? and !
    return text + punct


def cell_utterances(intent: str, lang: str, rng: random.Random, seen: set[str]) -> list[str]:
    """PER_CELL distinct utterances; every template is used before any is used twice."""
    templates = TEMPLATES[intent][lang]
    out: list[str] = []
    attempts = 0
    while len(out) < PER_CELL:
        order = templates[:]
        rng.shuffle(order)
        for t in order:
            if len(out) == PER_CELL:
                break
            attempts += 1
            if attempts > 100 * PER_CELL:
                raise RuntimeError(f"{intent}/{lang}: too few distinct phrasings")
            text = realise(t, lang, rng)
            key = dedup_key(text)
            if key in seen:
                continue
            seen.add(key)
            out.append(text)
    return out


def build_rows() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    for intent in sorted(TEMPLATES):
        for lang in ("en", "fr"):
            texts = cell_utterances(intent, lang, rng, seen)
            rng.shuffle(texts)
            for k, text in enumerate(texts):
                split = "eval" if k < EVAL_PER_CELL else "train"
                rows.append({"split": split, "lang": lang, "intent": intent, "text": text})
    rng.shuffle(rows)
    for n, row in enumerate(rows, start=1):
        row["id"] = f"u{n:04d}"
    return rows


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(
            f, fieldnames=["id", "split", "lang", "intent", "text"], lineterminator="\n"
        )
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def main() -> None:
    rows = build_rows()
    write_csv(rows, OUT)
    print(f"wrote {len(rows)} utterances to {OUT}")


if __name__ == "__main__":
    main()
