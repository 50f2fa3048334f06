"""The strategy family a strategy's code implies, read from its syntax tree (the code is never run).

Families (``core.db.models.strategies.STRATEGY_FAMILIES``) group strategies by the market behaviour they bet
on, the same grouping the probe catalog uses: trend, breakout, momentum, mean_reversion, volatility. The AI
generator asks the model; this module is the answer when there is no model (no Gemini key), and a second
opinion the editor can show. It must never execute the code (it may not be trusted), so it scores what the
syntax tree shows, each piece of evidence with its line:

* indicator calls (weight 2): ``sma``/``ema``/``macd`` and rolling or exponential means -> trend;
  ``highest``/``lowest`` of prices, rolling max/min of prices, running ``cummax``/``cummin`` -> breakout;
  ``rsi``, rate of change (``pct_change``, ``close / shifted close``) -> momentum; ``atr`` -> volatility;
  ``bollinger`` -> half mean_reversion, half volatility (the comparisons decide); standard deviations ->
  volatility (1);
* comparisons, where the decision is (weight 1-3): a price below the lower Bollinger band, RSI below an
  oversold level (40 or less) or a z-score against a threshold -> mean_reversion (3; RSI used this way no
  longer counts as momentum); RSI above a level from 50 to 65 -> momentum (2); a rate of change against a
  threshold -> momentum (2); a price beyond a channel of highs/lows -> breakout (2); a price above the upper
  band -> volatility (2); a price or average against another average -> trend (1);
* words in the names the code chooses (class, functions, variables, attributes, parameters; each word once):
  family terms (trend, breakout, donchian, momentum, roc, "rate of change", reversion, oversold, z-score,
  bounce, volatility, squeeze, keltner) weigh 2; hints (cross, channel, range, atr, width) weigh 1.

The family with the highest score wins. Ties go to the more specific family, in the order of
:data:`TIE_ORDER`: mean_reversion, volatility, breakout, momentum, trend. Why: nearly every strategy uses a
moving average somewhere (as a filter, a midline, a stop), so trend evidence is the least decisive, while an
oversold test or a band squeeze is rarely there by accident. No evidence at all (buy and hold, an empty
``next``) gives no family (None), which the library stores as NULL. VWAP counts for nothing: it serves trend
filters and reversion targets alike.

With a ``class_name`` the analysis covers that class, the classes it derives from that the source defines,
and the top-level functions they call (transitively), so a module of several strategies (the probe catalog)
can be classified one class at a time.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.db.models.strategies import STRATEGY_FAMILIES

TREND, BREAKOUT, MOMENTUM, MEAN_REVERSION, VOLATILITY = "trend", "breakout", "momentum", "mean_reversion", "volatility"
TIE_ORDER: tuple[str, ...] = (MEAN_REVERSION, VOLATILITY, BREAKOUT, MOMENTUM, TREND)
if set(TIE_ORDER) != set(STRATEGY_FAMILIES):  # a family added to the database must get a place here
    raise RuntimeError("family.TIE_ORDER must name every family in STRATEGY_FAMILIES")

# Tags that flow from a value to what is computed from it.
_PRICE, _MA, _CHANNEL, _RSI, _ROC, _ATR, _STD, _ZSCORE, _MACD = (
    "price", "average", "channel", "rsi", "roc", "atr", "stdev", "zscore", "macd",
)  # fmt: skip
_BAND_MID, _BAND_UPPER, _BAND_LOWER, _BANDS = "band_mid", "band_upper", "band_lower", "bands"

_PRICE_COLUMNS = frozenset({"open", "high", "low", "close"})
_PRICE_NAMES = frozenset({"close", "closes", "price", "prices", "high", "highs", "low", "lows", "c", "h", "l"})
_AVERAGES = frozenset({"sma", "ema", "wma", "dema", "tema", "kama", "hma", "moving_average"})
_EXTREMES = frozenset({"highest", "lowest"})
_MOMENTUM_CALLS = frozenset({"roc", "rate_of_change", "momentum", "mom"})
_RISK_FREE_CALLS = frozenset({"vwap"})  # documented: no evidence either way
# Calls whose result carries nothing of their arguments (a length, a mask of missing values, a filled array).
_OPAQUE_CALLS = frozenset({"len", "range", "isnan", "isfinite", "zeros", "ones", "full", "empty", "arange"})
_WORDS: dict[str, tuple[str, float]] = {
    "trend": (TREND, 2), "trending": (TREND, 2), "cross": (TREND, 1), "crossover": (TREND, 1),
    "crossing": (TREND, 1),
    "breakout": (BREAKOUT, 2), "donchian": (BREAKOUT, 2), "channel": (BREAKOUT, 1), "range": (BREAKOUT, 1),
    "momentum": (MOMENTUM, 2), "roc": (MOMENTUM, 2),
    "reversion": (MEAN_REVERSION, 2), "revert": (MEAN_REVERSION, 2), "reverting": (MEAN_REVERSION, 2),
    "oversold": (MEAN_REVERSION, 2), "overbought": (MEAN_REVERSION, 2), "zscore": (MEAN_REVERSION, 2),
    "bounce": (MEAN_REVERSION, 2),
    "volatility": (VOLATILITY, 2), "squeeze": (VOLATILITY, 2), "keltner": (VOLATILITY, 2),
    "atr": (VOLATILITY, 1), "width": (VOLATILITY, 1), "bandwidth": (VOLATILITY, 1),
}  # fmt: skip
_WORD_STEMS = {"squeezed": "squeeze", "squeezes": "squeeze", "breakouts": "breakout", "channels": "channel",
               "trends": "trend", "crosses": "cross", "crossed": "cross", "reverts": "revert"}  # fmt: skip
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass(frozen=True)
class Evidence:
    """One thing the code does that points to ``family``: how much it counts, where, and in words."""

    family: str
    weight: float
    line: int
    why: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.why} -> {self.family} (+{self.weight:g})"


@dataclass(frozen=True)
class FamilyVerdict:
    """The implied family (None: no evidence, or the code does not parse), every family's score, the evidence
    behind them (strongest first), and where the verdict came from: ``"analysis"`` (this module) or
    ``"model"`` (Gemini, see :mod:`core.ai`), with a one-line ``reason``."""

    family: str | None
    scores: Mapping[str, float] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    source: str = "analysis"
    reason: str = ""


def analyse_family(source: str, class_name: str | None = None) -> FamilyVerdict:
    """The family ``source`` implies (the one strategy class in it, or ``class_name``). Never raises for bad
    input: code that does not parse, or names no such class, gets family None with the reason."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return FamilyVerdict(None, _zeros(), reason=f"the code does not parse ({type(exc).__name__})")
    try:
        scope = _scope(tree, class_name)
    except LookupError as exc:
        return FamilyVerdict(None, _zeros(), reason=str(exc))
    evidence = _Scorer(tree, scope).evidence()
    scores = _zeros()
    for item in evidence:
        scores[item.family] += item.weight
    best = max(scores.values())
    if best <= 0:
        return FamilyVerdict(None, MappingProxyType(scores), tuple(evidence), reason="no family evidence in the code")
    family = next(f for f in TIE_ORDER if scores[f] == best)
    ranked = tuple(sorted(evidence, key=lambda e: (e.family != family, -e.weight, e.line)))
    top = "; ".join(e.why for e in ranked if e.family == family)
    return FamilyVerdict(family, MappingProxyType(scores), ranked, reason=f"{family}: {top}")


def _zeros() -> dict[str, float]:
    return dict.fromkeys(STRATEGY_FAMILIES, 0.0)


# ---- what to look at ------------------------------------------------------------------------------------------


def _scope(tree: ast.Module, class_name: str | None) -> list[ast.AST]:
    """The nodes that make up the strategy: its class (and bases defined here) plus the top-level functions
    they call, transitively; the whole module when no class is named and there is not exactly one."""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if class_name is None:
        strategies = [c for c in classes.values() if _base_names(c) & {"Strategy", "SignalStrategy"}]
        if len(strategies) != 1:
            return [tree]
        class_name = strategies[0].name
    if class_name not in classes:
        raise LookupError(f"no class {class_name!r} in the code")
    picked: dict[str, ast.AST] = {}
    pending = [class_name]
    while pending:
        name = pending.pop()
        if name in picked:
            continue
        node = classes.get(name) or functions.get(name)
        if node is None:
            continue
        picked[name] = node
        if isinstance(node, ast.ClassDef):
            pending.extend(b for b in _base_names(node) if b in classes)
        for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
            if isinstance(call.func, ast.Name) and call.func.id in functions:
                pending.append(call.func.id)
    return list(picked.values())


def _base_names(node: ast.ClassDef) -> set[str]:
    return {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases}


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id.lower()
    if isinstance(func, ast.Attribute):
        return func.attr.lower()
    return ""


def _words(identifier: str) -> Iterator[str]:
    for part in identifier.split("_"):
        for word in _CAMEL.findall(part):
            low = word.lower()
            yield _WORD_STEMS.get(low, low)


# ---- the scoring ----------------------------------------------------------------------------------------------


class _Scorer:
    """Two passes over the scope: tag every name with what it is computed from, then collect evidence."""

    def __init__(self, tree: ast.Module, scope: list[ast.AST]) -> None:
        self.scope = scope
        self.nodes = [n for root in scope for n in ast.walk(root)]
        self.tags: dict[str, frozenset[str]] = defaultdict(frozenset)
        self.constants = self._constants(tree)
        for _ in range(2):  # a second pass settles names used before the line that binds them
            for node in self.nodes:
                self._bind(node)

    # -- facts --
    def _constants(self, tree: ast.Module) -> dict[str, float]:
        """Numeric defaults: ``NAME = 30`` and ``oversold = Param(30.0, ...)`` (any call whose first
        argument is a number, such as a helper that builds a Param), keyed as ``NAME`` and ``self.oversold``."""
        found: dict[str, float] = {}
        for node in tree.body:
            found.update(self._literal_assignments(node.body if isinstance(node, ast.ClassDef) else [node],
                                                   "self." if isinstance(node, ast.ClassDef) else ""))  # fmt: skip
        return found

    @staticmethod
    def _literal_assignments(statements: Iterable[ast.stmt], prefix: str) -> dict[str, float]:
        found: dict[str, float] = {}
        for statement in statements:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
                continue
            target, value = statement.targets[0], statement.value
            if not isinstance(target, ast.Name):
                continue
            if isinstance(value, ast.Call) and value.args:
                value = value.args[0]
            number = _number(value)
            if number is not None:
                found[prefix + target.id] = number
        return found

    def _key(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            return f"self.{node.attr}"
        return None

    def _bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._assign(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value is not None:
            self._assign(node.target, node.value)

    def _assign(self, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, ast.Tuple | ast.List):
            if isinstance(value, ast.Call) and _call_name(value) == "bollinger" and len(target.elts) == 3:
                for element, tag in zip(target.elts, (_BAND_MID, _BAND_UPPER, _BAND_LOWER), strict=True):
                    self._assign_tags(element, frozenset({tag, _BANDS}))
                return
            if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
                for element, part in zip(target.elts, value.elts, strict=True):
                    self._assign(element, part)
                return
            for element in target.elts:
                self._assign_tags(element, self.of(value))
            return
        self._assign_tags(target, self.of(value))

    def _assign_tags(self, target: ast.AST, tags: frozenset[str]) -> None:
        key = self._key(target)
        if key is not None:
            self.tags[key] = self.tags[key] | tags

    def of(self, node: ast.AST | None) -> frozenset[str]:
        """What ``node``'s value is computed from (indicator outputs stop the flow: ``sma(close)`` is an
        average, not a price)."""
        match node:
            case None:
                return frozenset()
            case ast.Name(id=name):
                known = self.tags.get(name, frozenset())
                return known or (frozenset({_PRICE}) if name.lower() in _PRICE_NAMES else frozenset())
            case ast.Attribute(value=ast.Name(id="data"), attr=attr) if attr in _PRICE_COLUMNS:
                return frozenset({_PRICE})
            case ast.Attribute(value=value, attr=attr):
                key = self._key(node)
                if key is not None and key in self.tags:
                    return self.tags[key]
                inner = self.of(value)
                if _BANDS in inner and attr in ("mid", "upper", "lower"):
                    return frozenset({f"band_{attr}", _BANDS})
                return inner
            case ast.Call():
                return self._call_tags(node)
            case ast.BinOp(left=left, op=ast.Div(), right=right):
                tags = self.of(left) | self.of(right)
                if _is_rate_of_change(left, right, self):
                    tags |= {_ROC}
                if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Sub) and _STD in self.of(right):
                    tags |= {_ZSCORE}
                return tags
            case ast.Subscript(value=value):
                return self.of(value)
            case ast.Constant():
                return frozenset()
        tags = frozenset()
        for child in ast.iter_child_nodes(node):
            tags |= self.of(child)
        return tags

    def _call_tags(self, call: ast.Call) -> frozenset[str]:
        name = _call_name(call)
        receiver = self.of(call.func.value) if isinstance(call.func, ast.Attribute) else frozenset()
        args = frozenset().union(*(self.of(a) for a in call.args), *(self.of(k.value) for k in call.keywords))
        if name in _AVERAGES:
            return frozenset({_MA})
        if name == "macd":
            return frozenset({_MACD, _MA})
        if name in _EXTREMES:
            return frozenset({_CHANNEL}) if _PRICE in args else frozenset({"extreme"})
        if name == "rsi":
            return frozenset({_RSI})
        if name in _MOMENTUM_CALLS or name == "pct_change":
            return frozenset({_ROC})
        if name == "atr":
            return frozenset({_ATR})
        if name == "bollinger":
            return frozenset({_BANDS})
        if name in ("zscore", "z_score"):
            return frozenset({_ZSCORE})
        if name in ("std", "stdev", "pstdev", "nanstd"):
            return frozenset({_STD})
        if name == "mean" and self._rolling(call):
            return frozenset({_MA})
        if name in ("max", "min") and self._rolling(call):
            return frozenset({_CHANNEL}) if _PRICE in receiver else frozenset({"extreme"})
        if name in ("cummax", "cummin"):
            return frozenset({_CHANNEL})
        if name in _RISK_FREE_CALLS:
            return frozenset({"vwap"})
        if name in _OPAQUE_CALLS:
            return frozenset()
        if name == "indicator":  # self.indicator(values, name): the values' tags
            return self.of(call.args[0]) if call.args else frozenset()
        return receiver | args

    @staticmethod
    def _rolling(call: ast.Call) -> bool:
        """``<...>.rolling(n).mean()`` / ``.ewm(...).mean()`` and the like."""
        func = call.func
        return (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Call)
            and _call_name(func.value) in ("rolling", "ewm", "expanding")
        )

    # -- evidence --
    def evidence(self) -> list[Evidence]:
        found: list[Evidence] = []
        found.extend(self._calls())
        found.extend(self._comparisons())
        found.extend(self._names())
        if any(e.why.startswith("RSI below") for e in found):  # RSI as an oversold gauge is not momentum
            found = [e for e in found if not (e.family == MOMENTUM and e.why.startswith("calls rsi"))]
        return found

    def _calls(self) -> Iterator[Evidence]:
        for node in self.nodes:
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Div)
                and _is_rate_of_change(node.left, node.right, self)
            ):
                yield Evidence(MOMENTUM, 2, node.lineno, "computes a rate of change (price / earlier price)")
            if not isinstance(node, ast.Call):
                continue
            name, line = _call_name(node), node.lineno
            args = frozenset().union(*(self.of(a) for a in node.args))
            receiver = self.of(node.func.value) if isinstance(node.func, ast.Attribute) else frozenset()
            if name in _AVERAGES:
                yield Evidence(TREND, 2, line, f"calls {name} (a moving average)")
            elif name == "macd":
                yield Evidence(TREND, 2, line, "calls macd")
            elif name in _EXTREMES and _PRICE in args:
                yield Evidence(BREAKOUT, 2, line, f"calls {name} of prices (a channel)")
            elif name == "rsi":
                yield Evidence(MOMENTUM, 2, line, "calls rsi")
            elif name in _MOMENTUM_CALLS or name == "pct_change":
                yield Evidence(MOMENTUM, 2, line, f"calls {name} (a rate of change)")
            elif name == "atr":
                yield Evidence(VOLATILITY, 2, line, "calls atr (average true range)")
            elif name == "bollinger":
                yield Evidence(MEAN_REVERSION, 1, line, "calls bollinger (bands around a mean)")
                yield Evidence(VOLATILITY, 1, line, "calls bollinger (bands that widen with volatility)")
            elif name in ("zscore", "z_score"):
                yield Evidence(MEAN_REVERSION, 2, line, f"calls {name}")
            elif name in ("std", "stdev", "pstdev", "nanstd"):
                yield Evidence(VOLATILITY, 1, line, f"calls {name} (a standard deviation)")
            elif name == "mean" and self._rolling(node):
                yield Evidence(TREND, 2, line, "computes a rolling/exponential mean (a moving average)")
            elif name in ("max", "min") and self._rolling(node) and _PRICE in receiver:
                yield Evidence(BREAKOUT, 2, line, f"computes a rolling {name} of prices (a channel)")
            elif name in ("cummax", "cummin"):
                yield Evidence(BREAKOUT, 2, line, f"computes a running {name[3:]} (a range to break)")

    def _comparisons(self) -> Iterator[Evidence]:
        rsi_low: list[int] = []
        rsi_high: list[int] = []
        for node in self.nodes:
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
                continue
            op = node.ops[0]
            if not isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
                continue
            small, big = (node.left, node.comparators[0])
            if isinstance(op, ast.Gt | ast.GtE):
                small, big = big, small  # now: small < big
            a, b, line = self.of(small), self.of(big), node.lineno
            if _ZSCORE in a or _ZSCORE in b:
                yield Evidence(MEAN_REVERSION, 3, line, "compares a z-score with a threshold")
            elif _PRICE in a and _BAND_LOWER in b:
                yield Evidence(MEAN_REVERSION, 3, line, "compares the price with the lower band (buying weakness)")
            elif _PRICE in b and _BAND_UPPER in a:
                yield Evidence(VOLATILITY, 2, line, "compares the price with the upper band (a band expansion)")
            elif _RSI in a and (t := self._threshold(big)) is not None:
                if t <= 40:
                    rsi_low.append(line)
                elif t <= 50:
                    pass  # a momentum strategy's exit, or a reversion's; says nothing
            elif _RSI in b and (t := self._threshold(small)) is not None:
                if 50 <= t < 65:
                    rsi_high.append(line)
            elif _ROC in a or _ROC in b:
                yield Evidence(MOMENTUM, 2, line, "compares a rate of change with a threshold")
            elif (_PRICE in a and _CHANNEL in b) or (_PRICE in b and _CHANNEL in a):
                yield Evidence(BREAKOUT, 2, line, "compares the price with a channel of highs/lows")
            elif (_MA in a and (_MA in b or _PRICE in b)) or (_MA in b and _PRICE in a):
                yield Evidence(TREND, 1, line, "compares the price or an average with an average")
        if rsi_low:
            yield Evidence(MEAN_REVERSION, 3, rsi_low[0], "RSI below an oversold level")
        elif rsi_high:
            yield Evidence(MOMENTUM, 2, rsi_high[0], "RSI above a strength level")

    def _threshold(self, node: ast.AST) -> float | None:
        number = _number(node)
        if number is not None:
            return number
        key = self._key(node)
        return self.constants.get(key) if key is not None else None

    def _names(self) -> Iterator[Evidence]:
        seen: set[str] = set()
        for node in self.nodes:
            for identifier, line in _identifiers(node):
                for word in _words(identifier):
                    if word in seen:
                        continue
                    if word in _WORDS or word in ("rate", "change", "z", "score"):
                        seen.add(word)
                    if word in _WORDS:
                        family, weight = _WORDS[word]
                        yield Evidence(family, weight, line, f"the name {identifier!r}")
        if {"rate", "change"} <= seen:
            yield Evidence(MOMENTUM, 2, 0, "the names say 'rate of change'")
        if {"z", "score"} <= seen and "zscore" not in seen:
            yield Evidence(MEAN_REVERSION, 2, 0, "the names say 'z-score'")


def _identifiers(node: ast.AST) -> Iterator[tuple[str, int]]:
    """Names the code's author chose: classes, functions, bound variables, attributes set on self."""
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.ClassDef | ast.FunctionDef):
        yield node.name, line
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        yield node.id, line
    elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
        yield node.attr, line


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return -inner if inner is not None else None
    return None


def _is_rate_of_change(left: ast.AST, right: ast.AST, scorer: _Scorer) -> bool:
    """``price / earlier_price``: a price divided by a shifted or sliced price (``close / shift(close, n)``,
    ``close[n:] / close[:-n]``, ``c[-1] / c[-n]``)."""
    if _PRICE not in scorer.of(left) or _PRICE not in scorer.of(right):
        return False
    if isinstance(right, ast.Call):
        return "shift" in _call_name(right) or "lag" in _call_name(right)
    return isinstance(right, ast.Subscript)
