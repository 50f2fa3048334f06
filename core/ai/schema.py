"""The JSON schemas Gemini's structured output must follow (sent as ``response_json_schema``).

Kept to the subset of JSON Schema the Gemini API documents for structured output (type, properties,
required, items, enum, description, anyOf, minItems and the non-standard ``propertyOrdering``). Why an
order: the model writes the fields in that order, so it writes the code before it explains it, and the
explanation then describes the code it actually wrote. Families and timeframes are enums taken from the
database model and the bar model, so the model cannot invent a value the library would refuse to save.
"""

from __future__ import annotations

from typing import Any

from core.db.models.strategies import STRATEGY_FAMILIES
from core.domain.bars import TIMEFRAMES

STRATEGY_FIELDS = ("class_name", "code", "explanation", "parameters", "symbols", "timeframe", "family")
EXPLANATION_FIELDS = ("summary", "explanation", "family")
FAMILY_FIELDS = ("family", "reason")


def _family() -> dict[str, Any]:
    return {
        "type": "string",
        "enum": list(STRATEGY_FAMILIES),
        "description": "the kind of market behaviour the strategy bets on: trend (moving averages, MACD), breakout "
        "(new highs/lows, channels, opening ranges), momentum (RSI strength, rate of change), mean_reversion "
        "(oversold bounces, bands, z-scores), volatility (ATR, band squeezes, volatility expansion)",
    }


def strategy_schema() -> dict[str, Any]:
    """The answer to a generate or modify request: one complete module plus what the editor shows with it."""
    parameter = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "the Param attribute's name in the class"},
            "default": {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
            "minimum": {"type": "number"},
            "maximum": {"type": "number"},
            "description": {"type": "string", "description": "what the parameter means, for a trader"},
        },
        "required": ["name", "default", "description"],
        "propertyOrdering": ["name", "default", "minimum", "maximum", "description"],
    }
    return {
        "type": "object",
        "properties": {
            "class_name": {"type": "string", "description": "the name of the one strategy class the code defines"},
            "code": {
                "type": "string",
                "description": "the complete Python module (no Markdown fences), following the Strategy API contract",
            },
            "explanation": {
                "type": "string",
                "description": "plain English for a trader who does not read Python: what the strategy "
                "trades on, when it buys, when it sells, and its main risks; a few short paragraphs",
            },
            "parameters": {
                "type": "array",
                "items": parameter,
                "description": "every Param the class declares, in order",
            },
            "symbols": {
                "type": "array",
                "items": {"type": "string"},
                "description": "tickers the strategy is meant for (upper case, e.g. AAPL); empty if any",
            },
            "timeframe": {"type": "string", "enum": list(TIMEFRAMES), "description": "the bar size it is meant for"},
            "family": _family(),
        },
        "required": list(STRATEGY_FIELDS),
        "propertyOrdering": list(STRATEGY_FIELDS),
    }


def explanation_schema() -> dict[str, Any]:
    """The answer to an explain request."""
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "one sentence: what the strategy does"},
            "explanation": {
                "type": "string",
                "description": "plain English for a trader who does not read Python: indicators used, when it "
                "buys, when it sells, what each parameter changes, risks and anything that looks wrong",
            },
            "family": _family(),
        },
        "required": list(EXPLANATION_FIELDS),
        "propertyOrdering": list(EXPLANATION_FIELDS),
    }


def family_schema() -> dict[str, Any]:
    """The answer to a classify request."""
    return {
        "type": "object",
        "properties": {
            "family": _family(),
            "reason": {"type": "string", "description": "one sentence: which part of the code decides it"},
        },
        "required": list(FAMILY_FIELDS),
        "propertyOrdering": list(FAMILY_FIELDS),
    }
