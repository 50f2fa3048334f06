"""AI strategy generation: ask Gemini for a strategy, vet it, feed problems back, offer only what passed.

The loop for ``generate`` and ``modify``:

1. ask (system instruction with the Strategy API contract, the conversation so far, the answer schema);
2. read the structured answer (:mod:`.answers`; a malformed answer raises :class:`MalformedAnswer` at once:
   it is almost always an answer cut off at the length limit or blocked, which asking again rarely fixes);
3. vet the code (:mod:`.vetting`: the sandbox validator, the module's shape, its Param declarations, then a
   smoke backtest in the sandbox). Code that breaks the rules is never run, here or in the sandbox;
4. good: offer it (:class:`GeneratedStrategy`). Not good: append the answer and a repair turn listing every
   problem with its line, and go to 1, at most ``settings.max_repairs`` times; then raise
   :class:`GenerationFailed` with the last code and every attempt's problems.

The smoke backtest runs the model's code, which the trader has not read. Where the sandbox is not fully confined
(``confinement``, :func:`core.strategy.code_trust.needs_confirmation`) step 3 stops after the static checks: the
answer is offered "not yet run" (``smoke`` None, ``smoke_warning`` the text to confirm), and
:meth:`StrategyGenerator.smoke_test`, called once the trader confirmed, runs it and carries on with step 4 (its
repairs are smoke-tested at once: the trader agreed to running this conversation's code).

Every public method except :meth:`StrategyGenerator.classify` without a key blocks (HTTP calls of up to
``settings.timeout_s`` each, smoke backtests of about a second each): the GUI calls them on a worker thread.
A ``cancel`` event is honoured between steps and inside smoke backtests (an HTTP call in flight finishes or
times out first).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Self

from core.accounts.secrets import GeminiKey, SecretStore
from core.ai.answers import (
    StrategyAnswer,
    parse_explanation_answer,
    parse_family_answer,
    parse_strategy_answer,
)
from core.ai.client import GeminiClient, ModelClient, ModelReply, ModelRequest, Turn, Usage
from core.ai.diff import code_diff
from core.ai.errors import AiCancelled, AiError, FailedAttempt, GenerationFailed, NoGeminiKey
from core.ai.keys import configured_gemini_key
from core.ai.prompts import (
    classify_turn,
    explain_turn,
    generate_turn,
    modify_turn,
    repair_turn,
    system_instruction,
)
from core.ai.results import Conversation, Explanation, GeneratedStrategy, Modification
from core.ai.schema import explanation_schema, family_schema, strategy_schema
from core.ai.settings import GeminiSettings
from core.ai.smoke import simulated_bars
from core.ai.vetting import Vetting, vet_strategy
from core.domain.symbols import normalize_symbol
from core.strategy.api import BarData
from core.strategy.code_trust import CodeOrigin, needs_confirmation
from core.strategy.family import FamilyVerdict, analyse_family
from core.strategy.sandbox.confinement import ConfinementReport, probe_confinement
from core.strategy.source import strategy_classes

log = logging.getLogger(__name__)

MAX_REQUEST_CHARS = 20_000
MAX_CODE_CHARS = 100_000  # what is sent to the model; the library accepts longer code, the prompt should not

ClientFactory = Callable[[str, GeminiSettings], ModelClient]
ConfinementSource = Callable[[], ConfinementReport]


class StrategyGenerator:
    """Generate, modify, explain and classify strategies with Gemini.

    ``key`` is the Gemini API key (a str or :class:`core.accounts.secrets.GeminiKey`; None: no key, and every model
    call raises :class:`NoGeminiKey` while :meth:`classify` falls back to the code analysis). The client is
    built on first use by ``client_factory(key, settings)`` (default: :class:`GeminiClient`, i.e.
    google-genai). ``confinement`` says how confined the sandbox is (default: :func:`probe_confinement`, asked on
    each generation: cached, but slow the first time, so never from the GUI thread); it decides whether answers
    are smoke-tested at once or offered "not yet run". Thread-safe; ``close()`` (or ``with``) releases the HTTP
    connections."""

    def __init__(
        self,
        key: str | GeminiKey | None,
        *,
        settings: GeminiSettings | None = None,
        client_factory: ClientFactory | None = None,
        confinement: ConfinementSource | None = None,
    ) -> None:
        raw = key.key if isinstance(key, GeminiKey) else key
        self._key = raw.strip() if isinstance(raw, str) and raw.strip() else None
        self.settings = settings or GeminiSettings()
        self._factory: ClientFactory = client_factory or GeminiClient
        self._confinement: ConfinementSource = confinement or _probe
        self._client: ModelClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_secret_store(cls, store: SecretStore | None = None, *, settings: GeminiSettings | None = None) -> Self:
        """A generator with the key from ``SecretStore`` (``GEMINI_API_KEY``, else the keyring), or without a key
        when none is set: that is not an error until a model call is made. Blocks on the keyring."""
        return cls(configured_gemini_key(store), settings=settings)

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def __repr__(self) -> str:  # never the key
        return f"StrategyGenerator(model={self.settings.model!r}, key={'set' if self.has_key else 'none'})"

    # ---- the four requests ----------------------------------------------------------------------------------

    def generate(
        self,
        request: str,
        *,
        symbols: Sequence[str] = (),
        timeframe: str | None = None,
        bars: BarData | None = None,
        cancel: threading.Event | None = None,
    ) -> GeneratedStrategy:
        """A new strategy for ``request`` (plain English), vetted and smoke-tested (on ``bars`` when given,
        else on simulated bars; or offered "not yet run", see the module). Raises :class:`NoGeminiKey`, another
        :class:`GeminiError`, :class:`MalformedAnswer`, :class:`GenerationFailed` or :class:`AiCancelled`."""
        text = _request_text(request)
        first = generate_turn(text, symbols=[normalize_symbol(s) for s in symbols if s.strip()], timeframe=timeframe)
        return self._converse(first, bars=bars, cancel=cancel)

    def modify(
        self,
        code: str,
        request: str,
        *,
        bars: BarData | None = None,
        cancel: threading.Event | None = None,
    ) -> Modification:
        """``code`` changed as ``request`` asks, vetted like a new strategy, with a unified diff from ``code``.
        Nothing is saved: the editor shows the diff and the trader decides. Raises as :meth:`generate`."""
        old = _code_text(code)
        text = _request_text(request)
        try:
            classes = strategy_classes(old)
        except (SyntaxError, ValueError):
            classes = []
        first = modify_turn(old, text, class_name=classes[0] if len(classes) == 1 else None)
        strategy = self._converse(first, bars=bars, cancel=cancel)
        return Modification(strategy, old, code_diff(old, strategy.code))

    def explain(self, code: str, *, cancel: threading.Event | None = None) -> Explanation:
        """A plain-English explanation of ``code`` (any code: it is neither validated nor run)."""
        source = _code_text(code)
        _check(cancel)
        reply = self._ask(explain_turn(source), explanation_schema())
        answer = parse_explanation_answer(reply.text, finish_reason=reply.finish_reason)
        family, origin = self._family(answer.family, source, None)
        return Explanation(answer.summary, answer.explanation, family, origin, reply.usage, self.settings.model)

    def classify(self, code: str, *, class_name: str | None = None, use_model: bool = True) -> FamilyVerdict:
        """The family ``code`` implies: Gemini's verdict when there is a key (and ``use_model``), else the
        deterministic analysis of :mod:`core.strategy.family` (instant, never fails, never runs the code).
        With a key this blocks and raises like :meth:`explain`."""
        if not (use_model and self.has_key):
            return analyse_family(code, class_name)
        source = _code_text(code)
        reply = self._ask(classify_turn(source), family_schema())
        answer = parse_family_answer(reply.text, finish_reason=reply.finish_reason)
        analysis = analyse_family(source, class_name)
        return FamilyVerdict(answer.family, analysis.scores, analysis.evidence, "model", answer.reason)

    # ---- the conversation -----------------------------------------------------------------------------------

    def _converse(self, first_turn: str, *, bars: BarData | None, cancel: threading.Event | None) -> GeneratedStrategy:
        warning = needs_confirmation(CodeOrigin.AI, self._confinement())
        return self._repairing([Turn("user", first_turn)], [], Usage(), 1, bars=bars, cancel=cancel, warning=warning)

    def smoke_test(
        self, strategy: GeneratedStrategy, *, bars: BarData | None = None, cancel: threading.Event | None = None
    ) -> GeneratedStrategy:
        """``strategy`` (offered "not yet run") smoke-tested, now that the trader confirmed: the same strategy with
        its ``smoke`` report, or, if the backtest failed, the conversation carried on with repair turns (each
        smoke-tested at once) up to the remaining ``settings.max_repairs``. A strategy already run is returned
        as it is. Raises like :meth:`generate`."""
        if not strategy.smoke_pending:
            return strategy
        if strategy.conversation is None:
            raise AiError("this strategy cannot be smoke-tested: the conversation that produced it is gone")
        _check(cancel)
        vetting = self._vet_code(strategy.code, strategy.timeframe, bars, cancel, smoke=True)
        if vetting.ok:
            log.info("AI strategy %s smoke-tested after the trader confirmed", strategy.class_name)
            return replace(strategy, smoke=vetting.smoke, smoke_warning=None, conversation=None)
        failed = [*strategy.repaired, FailedAttempt(strategy.attempts, strategy.code, vetting.problems)]
        turns = [*strategy.conversation.turns, Turn("model", strategy.conversation.reply),
                 Turn("user", repair_turn(vetting.problems, strategy.code))]  # fmt: skip
        return self._repairing(turns, failed, strategy.usage, strategy.attempts + 1, bars=bars, cancel=cancel,
                               warning=None)  # fmt: skip

    def _repairing(
        self,
        turns: list[Turn],
        failed: list[FailedAttempt],
        usage: Usage,
        first_attempt: int,
        *,
        bars: BarData | None,
        cancel: threading.Event | None,
        warning: str | None,
    ) -> GeneratedStrategy:
        """Ask, vet, repair from attempt ``first_attempt`` on. With a ``warning`` the smoke backtest is left for
        the trader to confirm, so a good answer is offered after the static checks alone."""
        schema = strategy_schema()
        for attempt in range(first_attempt, self.settings.max_repairs + 2):
            _check(cancel)
            reply = self._client_or_raise().complete(ModelRequest(system_instruction(), tuple(turns), schema))
            usage = usage + reply.usage
            answer = parse_strategy_answer(reply.text, finish_reason=reply.finish_reason)
            _check(cancel)
            vetting = self._vet_code(answer.code, answer.timeframe, bars, cancel, smoke=warning is None)
            if vetting.ok:
                log.info("AI strategy %s accepted at attempt %d%s", vetting.class_name, attempt,
                         "" if vetting.smoke else " (smoke test awaits the trader)")  # fmt: skip
                pending = None if vetting.smoke else Conversation(tuple(turns), reply.text)
                return self._offer(answer, vetting, attempt, usage, tuple(failed), warning, pending)
            log.info("AI strategy attempt %d refused: %d problem(s)", attempt, len(vetting.problems))
            failed.append(FailedAttempt(attempt, answer.code, vetting.problems))
            turns += [Turn("model", reply.text), Turn("user", repair_turn(vetting.problems, answer.code))]
        raise GenerationFailed(tuple(failed))

    def _vet_code(
        self, code: str, timeframe: str, bars: BarData | None, cancel: threading.Event | None, *, smoke: bool
    ) -> Vetting:
        s = self.settings
        simulated = bars is None
        data = simulated_bars(s.smoke_bars, s.smoke_seed, timeframe) if bars is None else bars
        return vet_strategy(code, bars=data, timeframe=timeframe, simulated=simulated, cpu_seconds=s.smoke_cpu_s,
                            memory_mb=s.smoke_memory_mb, cancel=cancel, smoke=smoke)  # fmt: skip

    def _offer(self, answer: StrategyAnswer, vetting: Vetting, attempt: int, usage: Usage,
               failed: tuple[FailedAttempt, ...], warning: str | None,
               pending: Conversation | None) -> GeneratedStrategy:  # fmt: skip
        assert vetting.class_name is not None  # vetting.ok guarantees it
        described = {claim.name: claim.description for claim in answer.parameters}
        params = tuple(replace(p, doc=p.doc or described.get(p.name, "")) for p in vetting.params)
        family, origin = self._family(answer.family, answer.code, vetting.class_name)
        return GeneratedStrategy(
            code=answer.code, class_name=vetting.class_name, explanation=answer.explanation, parameters=params,
            symbols=answer.symbols, timeframe=answer.timeframe, family=family, family_source=origin,
            smoke=vetting.smoke, attempts=attempt, usage=usage, model=self.settings.model,
            created_at=datetime.now(UTC), repaired=failed,
            smoke_warning=warning if vetting.smoke is None else None, conversation=pending,
        )  # fmt: skip

    @staticmethod
    def _family(claimed: str | None, code: str, class_name: str | None) -> tuple[str | None, str]:
        if claimed is not None:
            return claimed, "model"
        return analyse_family(code, class_name).family, "analysis"

    def _ask(self, turn: str, schema: dict) -> ModelReply:
        return self._client_or_raise().complete(ModelRequest(system_instruction(), (Turn("user", turn),), schema))

    def _client_or_raise(self) -> ModelClient:
        if self._key is None:
            raise NoGeminiKey()
        with self._lock:
            if self._client is None:
                self._client = self._factory(self._key, self.settings)
            return self._client

    # ---- lifetime -------------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _probe() -> ConfinementReport:
    """This computer's confinement, looked up when called (so a test can stand in for the probe)."""
    return probe_confinement()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise AiCancelled("cancelled")


def _request_text(request: str) -> str:
    text = request.strip() if isinstance(request, str) else ""
    if not text:
        raise AiError("describe the strategy (or the change) you want in a sentence or two")
    if len(text) > MAX_REQUEST_CHARS:
        raise AiError(f"the request is longer than {MAX_REQUEST_CHARS:,} characters; shorten it")
    return text


def _code_text(code: str) -> str:
    if not isinstance(code, str) or not code.strip():
        raise AiError("there is no code to work on")
    if len(code) > MAX_CODE_CHARS:
        raise AiError(f"the code is longer than {MAX_CODE_CHARS:,} characters, too long to send to Gemini")
    return code
