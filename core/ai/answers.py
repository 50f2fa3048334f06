"""Reading the model's structured answers into frozen values, refusing anything malformed with a clear reason.

Structured output makes a well-formed answer likely, not certain: an answer cut off at the token limit is
half a JSON document, and a model may put Markdown fences around the code or leave a field empty. Structure
is checked strictly (a missing field or a wrong type is a :class:`MalformedAnswer`); values the application
can repair without guessing the model's intent are repaired (fences stripped, tickers upper-cased, a family
outside the allowed set dropped so that the code analysis decides instead).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from core.ai.errors import MalformedAnswer
from core.ai.schema import EXPLANATION_FIELDS, FAMILY_FIELDS, STRATEGY_FIELDS
from core.db.models.strategies import STRATEGY_FAMILIES
from core.domain.bars import TIMEFRAMES
from core.domain.symbols import is_valid_symbol, normalize_symbol

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_+-]*[ \t]*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)
_RAW_CHARS = 20_000


@dataclass(frozen=True)
class ParamClaim:
    """A parameter as the model described it (the code's own ``Param`` declarations are authoritative)."""

    name: str
    default: float | int | str | bool
    minimum: float | None
    maximum: float | None
    description: str


@dataclass(frozen=True)
class StrategyAnswer:
    """A generate/modify answer, well-formed but not yet checked: the code may still break the sandbox rules."""

    class_name: str
    code: str
    explanation: str
    parameters: tuple[ParamClaim, ...]
    symbols: tuple[str, ...]
    timeframe: str
    family: str | None  # None: the model named no family we know


@dataclass(frozen=True)
class ExplanationAnswer:
    summary: str
    explanation: str
    family: str | None


@dataclass(frozen=True)
class FamilyAnswer:
    family: str
    reason: str


def parse_strategy_answer(text: str, *, finish_reason: str | None = None) -> StrategyAnswer:
    """``text`` (the model's JSON) as a :class:`StrategyAnswer`, or :class:`MalformedAnswer` saying what is wrong."""
    data = _object(text, STRATEGY_FIELDS, finish_reason)
    code = strip_fences(_text(data, "code", text))
    if not code.strip():
        raise MalformedAnswer("Gemini's answer has no code", raw=_raw(text))
    timeframe = _text(data, "timeframe", text).strip()
    if timeframe not in TIMEFRAMES:
        raise MalformedAnswer(
            f"Gemini's answer names the timeframe {timeframe!r}, which StratForge does not run "
            f"(one of {', '.join(TIMEFRAMES)})",
            raw=_raw(text),
        )
    return StrategyAnswer(
        class_name=_text(data, "class_name", text).strip(),
        code=code if code.endswith("\n") else code + "\n",
        explanation=_required_text(data, "explanation", text),
        parameters=tuple(_param(item, text) for item in _list(data, "parameters", text)),
        symbols=_symbols(_list(data, "symbols", text), text),
        timeframe=timeframe,
        family=_family(data.get("family")),
    )


def parse_explanation_answer(text: str, *, finish_reason: str | None = None) -> ExplanationAnswer:
    data = _object(text, EXPLANATION_FIELDS, finish_reason)
    return ExplanationAnswer(
        summary=_required_text(data, "summary", text),
        explanation=_required_text(data, "explanation", text),
        family=_family(data.get("family")),
    )


def parse_family_answer(text: str, *, finish_reason: str | None = None) -> FamilyAnswer:
    data = _object(text, FAMILY_FIELDS, finish_reason)
    family = _family(data.get("family"))
    if family is None:
        raise MalformedAnswer(
            f"Gemini named the family {data.get('family')!r} (one of {', '.join(STRATEGY_FAMILIES)} was asked for)",
            raw=_raw(text),
        )
    return FamilyAnswer(family, _text(data, "reason", text).strip())


def strip_fences(code: str) -> str:
    """The code inside a Markdown fence (```python ... ```), or the text itself when it has none."""
    match = _FENCE.match(code)
    return match.group("body") if match else code


# ---- helpers ----------------------------------------------------------------------------------------------------


def _object(text: str, fields: tuple[str, ...], finish_reason: str | None) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip():
        raise MalformedAnswer("Gemini's answer was empty", raw="")
    try:
        data = json.loads(strip_fences(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        if finish_reason == "MAX_TOKENS":
            raise MalformedAnswer(
                "Gemini's answer was cut off (it reached its length limit); ask for a simpler strategy",
                raw=_raw(text),
            ) from None
        where = f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise MalformedAnswer(f"Gemini's answer is not valid JSON ({where})", raw=_raw(text)) from None
    if not isinstance(data, dict):
        raise MalformedAnswer(f"Gemini's answer is a JSON {type(data).__name__}, not an object", raw=_raw(text))
    missing = [f for f in fields if f not in data]
    if missing:
        raise MalformedAnswer(f"Gemini's answer lacks {', '.join(missing)}", raw=_raw(text))
    return data


def _text(data: dict[str, Any], key: str, raw: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedAnswer(f"Gemini's answer has {key} as {type(value).__name__}, not text", raw=_raw(raw))
    return value


def _required_text(data: dict[str, Any], key: str, raw: str) -> str:
    value = _text(data, key, raw).strip()
    if not value:
        raise MalformedAnswer(f"Gemini's answer has an empty {key}", raw=_raw(raw))
    return value


def _list(data: dict[str, Any], key: str, raw: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise MalformedAnswer(f"Gemini's answer has {key} as {type(value).__name__}, not a list", raw=_raw(raw))
    return value


def _param(item: Any, raw: str) -> ParamClaim:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
        raise MalformedAnswer("Gemini's answer lists a parameter without a name", raw=_raw(raw))
    default = item.get("default")
    if not isinstance(default, bool | int | float | str) or (isinstance(default, float) and not math.isfinite(default)):
        raise MalformedAnswer(f"Gemini's answer gives parameter {item['name']!r} no usable default", raw=_raw(raw))
    return ParamClaim(
        name=item["name"].strip(),
        default=default,
        minimum=_number(item.get("minimum")),
        maximum=_number(item.get("maximum")),
        description=str(item.get("description") or "").strip(),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _symbols(items: list[Any], raw: str) -> tuple[str, ...]:
    """Upper-cased tickers, duplicates removed; entries that are not tickers ("any", "tech stocks") dropped."""
    found: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str):
            raise MalformedAnswer("Gemini's answer lists a symbol that is not text", raw=_raw(raw))
        ticker = normalize_symbol(item)
        if is_valid_symbol(ticker):
            found[ticker] = None
    return tuple(found)


def _family(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    name = value.strip().lower().replace("-", "_").replace(" ", "_")
    return name if name in STRATEGY_FAMILIES else None


def _raw(text: str) -> str:
    return text if len(text) <= _RAW_CHARS else text[:_RAW_CHARS] + "…"
