"""Custom Rasa NLU components of the assistant.

:class:`MessageCleaner` runs first in the pipeline: it removes control characters (NUL bytes,
zero-width characters), turns every kind of space into a plain space, writes star symbols as
words ("★★★" becomes "3 stars", which the tokenizer would otherwise drop) and cuts very long
messages, so the tokenizer and DIET see ordinary text whatever a client sends. A message left
with no letters or digits, or with no Latin letters at all, is flagged, and
:class:`NoWordsFallback`, placed after the intent classifiers, turns its intent into
``nlu_fallback`` so the fallback action can say what was wrong instead of guessing an intent.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from recengine.parsing import clean_text, has_meaning, spell_out_star_symbols

__all__ = ["MessageCleaner", "NoWordsFallback", "NO_WORDS_FLAG"]

log = logging.getLogger(__name__)

NO_WORDS_FLAG = "no_words"
"""Message attribute set by :class:`MessageCleaner`: "empty", "symbols" or "foreign", absent for usable text."""


def _classify(text: str) -> str | None:
    if not text:
        return "empty"
    if not has_meaning(text):
        return "symbols"
    if not any("a" <= char.lower() <= "z" for char in text) and not any(char.isdigit() for char in text):
        return "foreign"
    return None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class MessageCleaner(GraphComponent):
    """Normalise the message text before tokenization and flag messages with nothing to read."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"max_length": 1000}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._max_length = int(config.get("max_length", 1000))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "MessageCleaner":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Annotated examples keep their text: changing it would move the entity offsets.
        self.process([example for example in training_data.training_examples if not example.get("entities")])
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            raw = message.get(TEXT)
            if raw is None:
                continue
            cleaned = spell_out_star_symbols(clean_text(raw, self._max_length))
            if cleaned != raw:
                message.set(TEXT, cleaned)
            flag = _classify(cleaned)
            if flag is not None:
                message.set(NO_WORDS_FLAG, flag)
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class NoWordsFallback(GraphComponent):
    """Set the intent to ``nlu_fallback`` for messages that :class:`MessageCleaner` flagged."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "NoWordsFallback":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            flag = message.get(NO_WORDS_FLAG)
            if not flag:
                continue
            fallback = {"name": DEFAULT_NLU_FALLBACK_INTENT_NAME, "confidence": 1.0}
            message.set(INTENT, fallback, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [fallback], add_to_output=True)
            message.set("entities", [], add_to_output=True)
            log.debug("Message without readable words (%s): intent set to %s", flag, DEFAULT_NLU_FALLBACK_INTENT_NAME)
        return messages
