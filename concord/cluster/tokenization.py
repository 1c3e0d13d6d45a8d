"""Tokens for span interfaces, from spaCy's rule-based tokenizer (no model needed)."""

from __future__ import annotations

import threading
from typing import Any

import spacy
from spacy.language import Language


class Tokenizer:
    """Tokenize task texts into Prodigy-style token dicts with code-point offsets."""

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self._nlp: Language | None = None
        self._lock = threading.Lock()

    @property
    def nlp(self) -> Language:
        # Loading a blank pipeline takes about a second, so it waits until an
        # NER feed needs it.
        with self._lock:
            if self._nlp is None:
                self._nlp = spacy.blank(self.language)
            return self._nlp

    def tokens(self, text: str) -> list[dict[str, Any]]:
        # Whitespace-only tokens (newlines, runs of spaces) cannot start or end
        # a span, so they are left out and ids are renumbered to stay list indexes.
        words = [token for token in self.nlp.make_doc(text) if not token.is_space]
        return [
            {
                "text": token.text,
                "start": token.idx,
                "end": token.idx + len(token.text),
                "id": index,
                "ws": bool(token.whitespace_),
            }
            for index, token in enumerate(words)
        ]
