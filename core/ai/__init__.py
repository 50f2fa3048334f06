"""AI strategy generation with Gemini (google-genai): generate, modify, explain and classify strategies.

The editor's entry point is :class:`StrategyGenerator`; every model call blocks, so the GUI runs it on a
worker thread. Modules, one job each:

* ``settings``: :class:`GeminiSettings` (model, endpoint, timeout, retries, repair turns, smoke budget);
* ``keys``: the key from :class:`core.accounts.secrets.SecretStore`;
* ``client``: one model call through google-genai, its failures as :mod:`.errors` types;
* ``contract``: the Strategy API contract the model is given, built from the code it describes;
* ``prompts`` and ``schema``: what is said to the model and the JSON its answers must follow;
* ``answers``: reading those answers, refusing malformed ones;
* ``smoke`` and ``vetting``: the sandbox validator and a smoke backtest in the sandbox before anything is
  offered;
* ``diff``: the unified diff a modification is shown with;
* ``results``: the values handed to the editor; ``generator``: the conversation that ties it together;
* ``cli``: ``stratforge generate``.

The deterministic family analysis (no key needed) is :func:`core.strategy.family.analyse_family`.
"""

from core.ai.client import GeminiClient, ModelClient, ModelReply, ModelRequest, Turn, Usage
from core.ai.errors import (
    AiCancelled,
    AiError,
    FailedAttempt,
    GeminiError,
    GeminiKeyRejected,
    GeminiRateLimited,
    GeminiServiceError,
    GeminiTimedOut,
    GeminiUnreachable,
    GenerationFailed,
    MalformedAnswer,
    NoGeminiKey,
)
from core.ai.generator import StrategyGenerator
from core.ai.keys import configured_gemini_key, require_gemini_key
from core.ai.results import Explanation, GeneratedStrategy, Modification
from core.ai.settings import DEFAULT_MODEL, GeminiSettings
from core.ai.smoke import SmokeReport
from core.strategy.family import FamilyVerdict, analyse_family

__all__ = [
    "DEFAULT_MODEL",
    "AiCancelled",
    "AiError",
    "Explanation",
    "FailedAttempt",
    "FamilyVerdict",
    "GeminiClient",
    "GeminiError",
    "GeminiKeyRejected",
    "GeminiRateLimited",
    "GeminiServiceError",
    "GeminiSettings",
    "GeminiTimedOut",
    "GeminiUnreachable",
    "GeneratedStrategy",
    "GenerationFailed",
    "MalformedAnswer",
    "ModelClient",
    "ModelReply",
    "ModelRequest",
    "Modification",
    "NoGeminiKey",
    "SmokeReport",
    "StrategyGenerator",
    "Turn",
    "Usage",
    "analyse_family",
    "configured_gemini_key",
    "require_gemini_key",
]
