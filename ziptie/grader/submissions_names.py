"""Names safe to show: a file name from a submission, whatever its bytes.

Zips and folders may hold names that are not UTF-8, or that hold control
characters and bidi overrides. They are read with the ``ziptie-names``
codec (UTF-8, keeping the other bytes) and shown, stored and used as keys
through ``shown``.
"""

from __future__ import annotations

import codecs
import unicodedata

#: The codec that reads names: UTF-8, keeping bytes that are not.
NAMES_CODEC = "ziptie-names"


def shown(text: str) -> str:
    """``text`` safe to show and store: bytes that are not UTF-8 and
    control characters become ``%XX``."""
    raw = text.encode("utf-8", "surrogateescape")
    out = []
    for char in raw.decode("utf-8", "surrogateescape"):
        if "\udc80" <= char <= "\udcff":
            out.append(f"%{ord(char) - 0xdc00:02X}")
        elif unicodedata.category(char) in ("Cc", "Zl", "Zp") \
                or "\u202a" <= char <= "\u202e" \
                or "\u2066" <= char <= "\u2069":   # bidi overrides
            out.append("".join(f"%{b:02X}" for b in char.encode()))
        else:
            out.append(char)
    return "".join(out)


def _names_codec(name: str):
    """``ziptie-names``: UTF-8, keeping bytes that are not (see shown)."""
    if name.replace("_", "-") != NAMES_CODEC:
        return None
    utf8 = codecs.lookup("utf-8")

    def decode(data, errors="strict"):
        return utf8.decode(data, "surrogateescape")

    return codecs.CodecInfo(utf8.encode, decode, name=NAMES_CODEC)


codecs.register(_names_codec)
