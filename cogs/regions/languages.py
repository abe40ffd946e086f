"""Human languages a member may name in their profile, with common aliases and native names: pure.

Profiles are free text, so only names found here count towards a language channel ("Deutsch" and "german" are
German; "N/A", "none", "C++" are no language at all). Names compare without case, accents or a trailing
parenthesis ("Português (BR)" is Portuguese). The list is the world's most spoken languages and those common in
online developer communities; a language missing here only means no channel is made for it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# English name -> other spellings (native names, common short forms). The English name is shown and keys the
# channel (``lang-german``), so "Deutsch" and "German" share one channel.
LANGUAGES: Mapping[str, tuple[str, ...]] = {
    "Afrikaans": (),
    "Albanian": ("shqip",),
    "Amharic": ("አማርኛ",),
    "Arabic": ("العربية", "عربي", "arabe"),
    "Armenian": ("հայերեն",),
    "Azerbaijani": ("azərbaycan", "azeri"),
    "Basque": ("euskara",),
    "Belarusian": ("беларуская",),
    "Bengali": ("bangla", "বাংলা"),
    "Bosnian": ("bosanski",),
    "Bulgarian": ("български",),
    "Burmese": ("မြန်မာ",),
    "Cantonese": ("廣東話", "粤语", "粵語"),
    "Catalan": ("català",),
    "Chinese": ("中文", "汉语", "漢語", "mandarin", "普通话", "putonghua"),
    "Croatian": ("hrvatski",),
    "Czech": ("čeština", "cesky", "česky"),
    "Danish": ("dansk",),
    "Dutch": ("nederlands", "flemish", "vlaams"),
    "English": ("englisch", "inglés", "anglais", "inglese", "inglês"),
    "Esperanto": (),
    "Estonian": ("eesti",),
    "Filipino": ("tagalog", "pilipino"),
    "Finnish": ("suomi",),
    "French": ("français", "francais", "französisch", "francés"),
    "Galician": ("galego",),
    "Georgian": ("ქართული",),
    "German": ("deutsch", "allemand", "alemán", "tedesco"),
    "Greek": ("ελληνικά",),
    "Gujarati": ("ગુજરાતી",),
    "Hausa": (),
    "Hebrew": ("עברית", "ivrit"),
    "Hindi": ("हिन्दी", "हिंदी"),
    "Hungarian": ("magyar",),
    "Icelandic": ("íslenska",),
    "Igbo": (),
    "Indonesian": ("bahasa indonesia", "indonesia"),
    "Irish": ("gaeilge",),
    "Italian": ("italiano", "italienisch"),
    "Japanese": ("日本語", "nihongo"),
    "Javanese": ("basa jawa",),
    "Kannada": ("ಕನ್ನಡ",),
    "Kazakh": ("қазақ",),
    "Khmer": ("ខ្មែរ",),
    "Korean": ("한국어", "조선말"),
    "Kurdish": ("kurdî",),
    "Lao": ("ລາວ",),
    "Latvian": ("latviešu",),
    "Lithuanian": ("lietuvių",),
    "Macedonian": ("македонски",),
    "Malay": ("bahasa melayu", "melayu", "bahasa malaysia"),
    "Malayalam": ("മലയാളം",),
    "Marathi": ("मराठी",),
    "Mongolian": ("монгол",),
    "Nepali": ("नेपाली",),
    "Norwegian": ("norsk", "bokmål", "nynorsk"),
    "Pashto": ("پښتو",),
    "Persian": ("farsi", "فارسی"),
    "Polish": ("polski",),
    "Portuguese": ("português", "portugues"),
    "Punjabi": ("ਪੰਜਾਬੀ", "پنجابی"),
    "Romanian": ("română", "romana"),
    "Russian": ("русский", "russkiy"),
    "Serbian": ("српски", "srpski"),
    "Sinhala": ("සිංහල", "sinhalese"),
    "Slovak": ("slovenčina",),
    "Slovenian": ("slovenščina", "slovene"),
    "Somali": ("soomaali",),
    "Spanish": ("español", "espanol", "castellano", "spanisch", "espagnol"),
    "Swahili": ("kiswahili",),
    "Swedish": ("svenska",),
    "Tamil": ("தமிழ்",),
    "Telugu": ("తెలుగు",),
    "Thai": ("ไทย",),
    "Turkish": ("türkçe", "turkce"),
    "Ukrainian": ("українська",),
    "Urdu": ("اردو",),
    "Uzbek": ("oʻzbek", "o'zbek"),
    "Vietnamese": ("tiếng việt", "tieng viet"),
    "Welsh": ("cymraeg",),
    "Yoruba": ("yorùbá",),
    "Zulu": ("isizulu",),
}
_PAREN = re.compile(r"\s*[(\[].*$")


def normalise(text: str) -> str:
    """Lower case, no accents, single spaces, without a trailing "(...)": how names are compared."""
    text = _PAREN.sub("", unicodedata.normalize("NFKC", text)).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(text.replace("-", " ").split())


_BY_NAME: dict[str, str] = {}
for _english, _aliases in LANGUAGES.items():
    for _name in (_english, *_aliases):
        _BY_NAME.setdefault(normalise(_name), _english)


def language(text: str | None) -> str | None:
    """The English name of the language ``text`` names, or None (not a language this list knows)."""
    return _BY_NAME.get(normalise(text)) if text else None
