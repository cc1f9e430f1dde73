"""The sentences of the synthetic tasks: vocabularies, templates and one sampler per task.

Each sampler draws one text of a given class from a `random.Random`; offline.py turns them into
balanced, seeded splits. Only the class-carrying words differ between classes (the adjectives,
the topic's actors and actions, the question's template), so the label is learnable from the
text and from nothing else.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence


def _pick(rng: random.Random, items: Sequence[str]) -> str:
    return items[rng.randrange(len(items))]


def _an(word: str) -> str:
    """English indefinite article for a word."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------------------------
# synth_sentiment: shared neutral frame, only the adjectives carry the polarity.

_FILM_NOUNS = (
    "movie", "film", "story", "plot", "script", "cast", "soundtrack", "ending", "performance",
    "direction", "dialogue", "pacing", "cinematography", "sequel", "documentary", "comedy",
    "drama", "thriller", "screenplay", "lead actor", "premise", "finale", "animation", "score",
)  # fmt: skip
POLAR_ADJECTIVES = (
    (
        "dreadful", "boring", "clumsy", "tedious", "awful", "dull", "lifeless", "messy",
        "painful", "forgettable", "shallow", "bland", "incoherent", "tiresome", "terrible",
        "predictable", "disappointing", "lazy", "annoying", "pointless", "uninspired", "weak",
    ),
    (
        "wonderful", "brilliant", "delightful", "moving", "charming", "superb", "gripping",
        "beautiful", "clever", "hilarious", "touching", "stunning", "engaging", "heartfelt",
        "masterful", "refreshing", "uplifting", "captivating", "excellent", "memorable",
        "inventive", "strong",
    ),
)  # fmt: skip
_INTENSIFIERS = (
    "really", "truly", "remarkably", "utterly", "quite", "genuinely", "simply", "rather",
    "thoroughly", "surprisingly", "absolutely", "consistently", "oddly", "entirely",
)  # fmt: skip
_VIEWING = (
    "I saw it last weekend", "we watched it at the festival", "my friends picked it",
    "I caught the late show", "we streamed it on a rainy Sunday", "I went in with no expectations",
    "my sister recommended it", "I watched it twice", "we saw it on opening night",
    "I rented it on a whim",
)  # fmt: skip
_SENTIMENT_TEMPLATES = (
    "The {noun} was {intens} {adj}.",
    "{viewing_cap}, and the {noun} felt {intens} {adj}.",
    "What {a_adj} {adj} {noun}; {viewing}.",
    "Honestly, the {noun} is {intens} {adj} and the {noun2} is {adj2}.",
    "I found the {noun} {intens} {adj} from start to finish.",
    "{intens_cap} {adj} {noun}, {viewing}.",
    "It is {a_adj} {adj} {noun} with {a_adj2} {adj2} {noun2}.",
    "By the end, the {noun} seemed {intens} {adj} to me.",
    "The director delivers {a_intens} {intens} {adj} {noun}.",
    "Critics may disagree, but this {noun} is {intens} {adj}.",
    "{viewing_cap}: {intens} {adj} {noun}, {adj2} {noun2}.",
    "From the opening scene the {noun} is {adj}, and the {noun2} stays {adj2}.",
)  # fmt: skip


def sentiment_text(label: int, rng: random.Random) -> str:
    """A film-review sentence whose adjectives carry `label` (0 negative, 1 positive)."""
    adjectives = POLAR_ADJECTIVES[label]
    adj, adj2 = rng.sample(adjectives, 2)
    noun, noun2 = rng.sample(_FILM_NOUNS, 2)
    intens = _pick(rng, _INTENSIFIERS)
    viewing = _pick(rng, _VIEWING)
    return _pick(rng, _SENTIMENT_TEMPLATES).format(
        noun=noun, noun2=noun2, adj=adj, adj2=adj2, a_adj=_an(adj), a_adj2=_an(adj2),
        a_intens=_an(intens), intens=intens, intens_cap=_cap(intens),
        viewing=viewing, viewing_cap=_cap(viewing),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# synth_topic: news-wire sentences; actor, action and setting all come from the topic.

TOPIC_VOCAB: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    (  # world
        ("the prime minister", "rebel leaders", "the foreign ministry", "United Nations envoys",
         "opposition parties", "the president", "border officials", "peace negotiators",
         "the parliament", "election monitors", "the military junta", "refugee agencies"),
        ("signed a ceasefire", "called for new elections", "held talks on the border dispute",
         "condemned the airstrike", "announced sanctions", "closed the embassy",
         "approved a refugee plan", "rejected the peace proposal", "declared a state of emergency",
         "released political prisoners", "withdrew troops", "sent aid convoys"),
        ("in Cairo", "in Kabul", "near the border", "in Geneva", "in the capital", "in Brussels",
         "after weeks of protests", "in Baghdad", "at the summit", "in Jerusalem"),
    ),
    (  # sports
        ("the home team", "the striker", "the veteran quarterback", "the tennis champion",
         "the national squad", "the head coach", "the goalkeeper", "the sprinter",
         "the league leaders", "the rookie pitcher", "the golf star", "the cycling team"),
        ("won the championship final", "scored twice in the second half", "signed a new contract",
         "was injured during practice", "clinched the title", "lost in overtime",
         "set a world record", "advanced to the semifinals", "was suspended for two games",
         "beat the defending champions", "retired from the game", "drew a record crowd"),
        ("at the Olympic stadium", "in the World Cup", "at Wimbledon", "in the playoffs",
         "in the season opener", "at the Open", "in the derby", "before a home crowd",
         "in the league match", "at the Grand Prix"),
    ),
    (  # business
        ("shares of the retailer", "the central bank", "the oil company", "investors",
         "the automaker", "the airline", "Wall Street analysts", "the bank's chief executive",
         "the supermarket chain", "the insurance group", "the steel producer", "the brewer"),
        ("rose sharply after earnings", "cut interest rates", "announced a merger",
         "reported record profits", "laid off thousands of workers", "raised its sales forecast",
         "filed for bankruptcy", "agreed to buy a rival", "missed revenue estimates",
         "paid a special dividend", "sold its European unit", "lowered its outlook"),
        ("on the stock market", "in early trading", "this quarter", "amid rising oil prices",
         "as the dollar slipped", "ahead of the earnings season", "on the Nasdaq",
         "despite weak consumer spending", "in a deal worth billions", "on Wall Street"),
    ),
    (  # science
        ("researchers", "NASA scientists", "the software maker", "astronomers",
         "a team of biologists", "the chip maker", "engineers", "physicists",
         "the space agency", "computer security experts", "geneticists", "climate scientists"),
        ("discovered a new planet", "released a software update", "launched a satellite",
         "unveiled a faster processor", "mapped the genome", "found traces of water",
         "patched a security flaw", "tested a new vaccine", "built a quantum computer",
         "detected gravitational waves", "cloned a mouse", "shipped a new operating system"),
        ("using a new telescope", "in a study published Tuesday", "in the laboratory",
         "on the internet", "with a robotic probe", "in the journal Nature",
         "at the research institute", "on Mars", "with a supercomputer", "in orbit"),
    ),
)  # fmt: skip
_WHEN = ("On Monday", "On Tuesday", "On Wednesday", "On Thursday", "On Friday", "Late on Sunday",
         "Earlier this week", "Overnight")  # fmt: skip
_TOPIC_TEMPLATES = (
    "{actor_cap} {action} {where}.",
    "{when}, {actor} {action} {where}.",
    "{actor_cap} {action} {where}, officials said.",
    "{actor_cap} {action} {where}, according to a report.",
    "{when}, {actor} {action}.",
    "{actor_cap} {action} {where}, sources told reporters on {day}.",
)  # fmt: skip


def topic_text(label: int, rng: random.Random) -> str:
    """A news-wire sentence whose actor, action and setting all come from topic `label`."""
    actors, actions, wheres = TOPIC_VOCAB[label]
    actor = _pick(rng, actors)
    when = _pick(rng, _WHEN)
    return _pick(rng, _TOPIC_TEMPLATES).format(
        actor=actor, actor_cap=_cap(actor), action=_pick(rng, actions), where=_pick(rng, wheres),
        when=when, day=_pick(rng, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# synth_qtype: TREC-style questions whose coarse type is fixed by the template.

_ACRONYMS = (
    ("NASA", "the National Aeronautics and Space Administration"),
    ("FBI", "the Federal Bureau of Investigation"),
    ("NATO", "the North Atlantic Treaty Organization"),
    ("UNESCO", "the United Nations Educational, Scientific and Cultural Organization"),
    ("CPU", "a central processing unit"), ("DNA", "deoxyribonucleic acid"),
    ("RAM", "random access memory"), ("GDP", "gross domestic product"),
    ("WHO", "the World Health Organization"),
    ("OPEC", "the Organization of the Petroleum Exporting Countries"),
    ("laser", "light amplification by stimulated emission of radiation"),
    ("scuba", "self-contained underwater breathing apparatus"),
    ("AIDS", "acquired immune deficiency syndrome"),
    ("CIA", "the Central Intelligence Agency"), ("NBA", "the National Basketball Association"),
)  # fmt: skip
_PEOPLE = (
    "Mozart", "Marie Curie", "Abraham Lincoln", "Charles Dickens", "Cleopatra", "Isaac Newton",
    "Frida Kahlo", "Napoleon", "Jane Austen", "Louis Armstrong", "Albert Einstein", "Mark Twain",
    "Queen Victoria", "Galileo", "Ernest Hemingway", "Elvis Presley", "Florence Nightingale",
    "Pablo Picasso", "Thomas Edison", "Babe Ruth", "Amelia Earhart", "Leo Tolstoy",
    "Charles Darwin", "Joan of Arc", "Beethoven", "Harriet Tubman",
)  # fmt: skip
_CITIES = (
    "Paris", "Tokyo", "Chicago", "Cairo", "Sydney", "Toronto", "Mumbai", "Berlin", "Lima",
    "Nairobi", "Boston", "Madrid", "Seoul", "Istanbul", "Dublin", "Prague", "Havana", "Oslo",
    "Denver", "Vienna", "Lisbon", "Manila",
)  # fmt: skip
_COUNTRIES = (
    "Brazil", "Kenya", "Norway", "Peru", "Japan", "Egypt", "Canada", "Chile", "India", "Greece",
    "Mexico", "Finland", "Vietnam", "Morocco", "Ireland", "Nepal", "Portugal", "Argentina",
)  # fmt: skip
_LANDMARKS = (
    "Eiffel Tower", "Statue of Liberty", "Golden Gate Bridge", "Great Wall of China",
    "Leaning Tower of Pisa", "Empire State Building", "Taj Mahal", "Sydney Opera House",
    "Brooklyn Bridge", "Space Needle", "Colosseum", "Big Ben",
)  # fmt: skip
_CONCEPTS = (
    "black hole", "sonnet", "tariff", "vaccine", "hurricane", "molecule", "democracy", "glacier",
    "mortgage", "metaphor", "volcano", "catalyst", "monopoly", "fossil", "tsunami", "haiku",
    "semiconductor", "placebo", "filibuster", "eclipse", "enzyme", "sonar", "recession", "comet",
)  # fmt: skip
_DEVICES = (
    "microwave oven", "thermostat", "jet engine", "refrigerator", "compass", "telescope",
    "barometer", "smoke detector", "solar panel", "printing press", "steam engine", "camera",
)  # fmt: skip
_INVENTIONS = (
    "telephone", "light bulb", "printing press", "radio", "airplane", "steam engine",
    "television", "telescope", "bicycle", "typewriter", "sewing machine", "phonograph",
)  # fmt: skip
_ROLES = ("president", "prime minister", "female astronaut", "king", "governor", "chief justice")
_PLURALS = (
    ("bones", "the human body"), ("keys", "a piano"), ("players", "a soccer team"),
    ("moons", "the solar system"), ("cards", "a deck"), ("squares", "a chessboard"),
    ("teeth", "an adult mouth"), ("states", "the United States"), ("strings", "a violin"),
    ("countries", "Africa"), ("days", "a leap year"), ("hearts", "an octopus"),
)  # fmt: skip
_QTYPE_TEMPLATES: tuple[tuple[Callable[[random.Random], str], ...], ...] = (
    (  # ABBR
        lambda r: f"What does {_acronym(r)} stand for?",
        lambda r: f"What is the full form of {_acronym(r)}?",
        lambda r: f"What is {_acronym(r)} short for?",
        lambda r: f"What does the abbreviation {_acronym(r)} mean?",
        lambda r: f"What is the abbreviation for {_pick(r, _ACRONYMS)[1]}?",
        lambda r: f"What is the acronym for {_pick(r, _ACRONYMS)[1]}?",
    ),
    (  # ENTY
        lambda r: f"What instrument did {_pick(r, _PEOPLE)} play in {_year(r)}?",
        lambda r: f"What language do people speak in {_pick(r, _CITIES)}?",
        lambda r: f"What currency was used in {_pick(r, _COUNTRIES)} in {_year(r)}?",
        lambda r: f"What color is the flag of {_pick(r, _COUNTRIES)}?",
        lambda r: f"What animal appears on the coat of arms of {_pick(r, _CITIES)}?",
        lambda r: f"What sport did {_pick(r, _PEOPLE)} play as a child?",
        lambda r: f"What was the name of the ship {_pick(r, _PEOPLE)} sailed on in {_year(r)}?",
        lambda r: f"What disease did {_pick(r, _PEOPLE)} suffer from?",
    ),
    (  # DESC
        lambda r: f"What is {_a_concept(r)}?",
        lambda r: f"What is the definition of {_a_concept(r)}?",
        lambda r: f"How does {_a(_pick(r, _DEVICES))} work?",
        lambda r: f"Why did {_pick(r, _PEOPLE)} move to {_pick(r, _CITIES)}?",
        lambda r: "What is the difference between {} and {}?".format(
            *(f"{_an(c)} {c}" for c in r.sample(_CONCEPTS, 2))
        ),
        lambda r: f"Why is the {_pick(r, _LANDMARKS)} famous?",
        lambda r: f"What is the origin of the name {_pick(r, _CITIES)}?",
    ),
    (  # HUM
        lambda r: f"Who was the first {_pick(r, _ROLES)} of {_pick(r, _COUNTRIES)}?",
        lambda r: f"Who invented the {_pick(r, _INVENTIONS)}?",
        lambda r: f"Who painted the portrait of {_pick(r, _PEOPLE)}?",
        lambda r: f"Who was the mayor of {_pick(r, _CITIES)} in {_year(r)}?",
        lambda r: f"Who won the Nobel Prize in {_pick(r, _FIELDS)} in {_year(r)}?",
        lambda r: f"Who wrote the first biography of {_pick(r, _PEOPLE)}?",
        lambda r: f"Who designed the {_pick(r, _LANDMARKS)}?",
    ),
    (  # LOC
        lambda r: f"Where is the {_pick(r, _LANDMARKS)}?",
        lambda r: f"What country is {_pick(r, _CITIES)} in?",
        lambda r: f"Where was {_pick(r, _PEOPLE)} born?",
        lambda r: f"Where did {_pick(r, _PEOPLE)} live in {_year(r)}?",
        lambda r: f"Which river flows through {_pick(r, _CITIES)}?",
        lambda r: f"What continent is {_pick(r, _COUNTRIES)} on?",
        lambda r: f"Where did {_pick(r, _PEOPLE)} die?",
    ),
    (  # NUM
        lambda r: "How many {} are there in {}?".format(*_pick(r, _PLURALS)),
        lambda r: f"When was {_pick(r, _PEOPLE)} born?",
        lambda r: f"How tall is the {_pick(r, _LANDMARKS)}?",
        lambda r: "How far is {} from {}?".format(*r.sample(_CITIES, 2)),
        lambda r: f"What was the population of {_pick(r, _CITIES)} in {_year(r)}?",
        lambda r: f"How old was {_pick(r, _PEOPLE)} in {_year(r)}?",
        lambda r: f"How much did a loaf of bread cost in {_pick(r, _COUNTRIES)} in {_year(r)}?",
    ),
)  # fmt: skip
_FIELDS = ("physics", "chemistry", "medicine", "literature", "peace", "economics")


def _year(rng: random.Random) -> int:
    return rng.randint(1850, 2020)


def _a(word: str) -> str:
    return f"{_an(word)} {word}"


def _a_concept(rng: random.Random) -> str:
    return _a(_pick(rng, _CONCEPTS))


def _acronym(rng: random.Random) -> str:
    """A real acronym half the time, otherwise random capitals (unbounded variety)."""
    if rng.random() < 0.5:
        return _pick(rng, _ACRONYMS)[0]
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(3, 4)))


def qtype_text(label: int, rng: random.Random) -> str:
    """A TREC-style question whose coarse type `label` is fixed by its template."""
    return _pick(rng, _QTYPE_TEMPLATES[label])(rng)  # type: ignore[arg-type]
