"""Named sets of Unicode characters the input rules refuse, and how an error message names a character."""

from __future__ import annotations

import unicodedata


def _runs(*runs: tuple[int, int]) -> str:
    return "".join(chr(code) for first, last in runs for code in range(first, last + 1))


CONTROL_CHARACTERS = _runs((0x00, 0x1F), (0x7F, 0x9F))
"""Unicode's control characters (general category Cc): C0, DEL and C1, U+0085 NEXT LINE among them."""
LINE_SEPARATORS = "\u2028\u2029"
"""LINE SEPARATOR and PARAGRAPH SEPARATOR (categories Zl and Zp): line breaks that are not control characters."""
FORMAT_CHARACTERS = _runs(
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
"""Unicode's format characters (general category Cf, Unicode 14 as Python 3.11 has it): zero-width space, non-joiner
and joiner, word joiner, byte order mark, soft hyphen, the bidirectional controls, the invisible tag characters, ...
(``tests/test_input_rules.py`` checks the list against Python's Unicode database)."""
ZERO_WIDTH_JOINERS = "\u200c\u200d"
"""ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER: format characters that emoji sequences and several scripts need."""
BLANK_CHARACTERS = "\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0"
"""Characters that are not format characters yet show nothing: the combining grapheme joiner, the Hangul fillers,
the Khmer inherent vowels and the braille blank (``"admin\u2800"`` looks like ``"admin"``)."""


def describe_character(char: str) -> str:
    """``U+2028 LINE SEPARATOR``: a character as an error message names it (control characters have no name)."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"
