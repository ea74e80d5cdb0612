"""Invitation link tokens are only ever stored and sent as their SHA-256 hash.

An invitation also has a short code, printed on letters and paper forms so that a keyed-in
form names its invitation: ten Crockford base-32 characters (no I, L, O or U) taken from
SHA-256 of the invitation id, shown as ``ABCDE-FGHJK``. It is not a secret (the paper import
needs the admin key) and it is not unique by construction: 50 bits make a clash between two
of a million invitations about 1 in 2,000, and an import refuses a code that matches two.
The responses schema computes the same code in SQL (``responses.short_code``); a test keeps
the two equal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SHORT_CODE_LENGTH = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def short_code(invitation_id: uuid.UUID) -> str:
    """The invitation's short code without the hyphen (format it with :func:`format_short_code`)."""
    digest = hashlib.sha256(b"short:" + invitation_id.bytes).digest()
    bits = int.from_bytes(digest[:7], "big") >> (56 - 5 * SHORT_CODE_LENGTH)
    return "".join(
        CROCKFORD[(bits >> (5 * (SHORT_CODE_LENGTH - 1 - i))) & 31] for i in range(SHORT_CODE_LENGTH)
    )


def format_short_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def normalise_short_code(text: str) -> str | None:
    """A code as typed (any case, spaces, hyphens; O for 0, I or L for 1); None when it is none."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if len(cleaned) != SHORT_CODE_LENGTH or any(c not in CROCKFORD for c in cleaned):
        return None
    return cleaned


def invitation_token(secret: bytes, invitation_id: uuid.UUID) -> str:
    """The personal link token: HMAC-SHA256 of the invitation id (256 bits, URL-safe).

    Derived rather than stored, so reminders can repeat the link (and a letter code can lead
    to it) while the databases hold only its hash.
    """
    digest = hmac.digest(secret, invitation_id.bytes, "sha256")  # one-shot: the same HMAC, faster
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# The personal code on a letter (persoonlijke code), typed in at /code or said on the phone:
# ten characters that cannot be mixed up when read aloud or typed (no 0 or O, no 1, I or L),
# keyed with the token secret (about 49 bits), shown as ``ABCDE-FGHJK``.
LETTER_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LETTER_CODE_LENGTH = 10


def letter_code(secret: bytes, invitation_id: uuid.UUID) -> str:
    """The invitation's letter code without the hyphen (format it with :func:`format_short_code`)."""
    number = int.from_bytes(hmac.digest(secret, b"letter-code:" + invitation_id.bytes, "sha256"), "big")
    characters = []
    for _ in range(LETTER_CODE_LENGTH):
        number, index = divmod(number, len(LETTER_CODE_ALPHABET))
        characters.append(LETTER_CODE_ALPHABET[index])
    return "".join(characters)


def normalise_letter_code(text: str) -> str | None:
    """A letter code as typed (any case, spaces, hyphens); None when it cannot be one."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    if len(cleaned) != LETTER_CODE_LENGTH or any(c not in LETTER_CODE_ALPHABET for c in cleaned):
        return None
    return cleaned
