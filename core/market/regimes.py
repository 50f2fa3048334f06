"""Market regimes: a Gaussian hidden Markov model over per-bar features, with an "unknown" state.

Volatility comes in spells (calm weeks, turbulent weeks), which is what a hidden
Markov model describes: a few hidden states, each with its own distribution of
features, and sticky transitions between them. ``hmmlearn``'s ``GaussianHMM``
does the fitting (EM) and the state posteriors (forward-backward); this module
adds what storing states per bar needs:

* **Stable labels.** EM numbers states arbitrarily; they are re-ordered by their
  mean volatility, so state 0 is always the calmest and a re-fit on the same bars
  (fixed ``random_state``, hence the same k-means start) gives the same labels
  and the same :attr:`RegimeModel.model_id`.
* **Standardised inputs.** Features differ by orders of magnitude (returns
  ~1e-3, RSI ~50); they are scaled with the training mean/std, kept in the model.
* **Full covariance.** Volatility, range and the size of returns move together;
  a diagonal model would count that one piece of evidence two or three times,
  making posteriors over-confident and the out-of-distribution test miss bars
  whose features are individually plausible but jointly odd (a wide range on a
  calm day). With three features a full matrix is 6 numbers per state.
* **Out-of-distribution bars.** A bar unlike anything in training (a 50% jump,
  a bad print) would still be forced into some state. Its per-bar
  log-likelihood (below) is compared with a threshold fixed at fit time, the
  0.5th percentile of the training bars' values; below it the bar gets state -1.
* **Per-bar log-likelihood.** ``log sum_k pi_k N(z_t; mu_k, Sigma_k)``: the log
  density of the bar's standardised feature vector ``z_t`` under the model's
  stationary mixture (``pi`` = stationary distribution of the transition
  matrix; densities via ``scipy.stats.multivariate_normal``, public APIs only).
  Not the posterior-weighted density: posteriors are computed from the whole
  sequence, later bars included, and already lean towards the state that
  explains ``z_t`` best, so a bar's "surprise" would depend on its neighbours
  and on bars after it. The stationary mixture makes it a property of the bar
  alone: causal, unchanged when bars are appended, one threshold for all bars.
  Units: the standardised space (add ``-sum(log std)`` for raw feature units).

State posteriors (``state_prob``) come from ``predict_proba``, i.e. forward-backward
*smoothing*: the state of bar t uses the bars after t as well. That is what a
chart band should show; a strategy that trades on the state at bar t in a
backtest would be looking ahead and needs filtered probabilities instead.

A fitted model is a few hundred numbers (:meth:`RegimeModel.to_dict`, JSON). There
is no table for models: the id in every ``computed_features`` row names the
model, and the dict is meant to be kept next to it, e.g. as
``<data dir>/models/<model_id>.json`` or in a future ``regime_models`` table
keyed by ``model_id`` (JSONB), so stored states can be reproduced or extended.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from core.market.features import FEATURE_VERSION

DEFAULT_COLUMNS: tuple[str, ...] = ("log_return", "volatility_20", "range")
DEFAULT_ORDER_BY = "volatility_20"
OOD_QUANTILE = 0.005  # share of training bars that fall below the out-of-distribution threshold
OOD_STATE = -1
RANDOM_STATE = 20240603
COVARIANCE_TYPES = ("full", "diag")
_MODEL_KIND = "gaussian_hmm"


class RegimeModelError(ValueError):
    """The model cannot be fitted or used as asked (too few bars, missing columns, not fitted)."""


@dataclass(frozen=True)
class RegimeParams:
    """Everything a fitted model is: the scaling of its inputs and the HMM's parameters, states re-ordered."""

    mean: np.ndarray  # (n_features,) training mean of each input column
    std: np.ndarray  # (n_features,) training std (1 where a column was constant)
    startprob: np.ndarray  # (n_states,) = the stationary distribution (see RegimeModel.fit)
    transmat: np.ndarray  # (n_states, n_states)
    means: np.ndarray  # (n_states, n_features), standardised units
    covars: np.ndarray  # (n_states, n_features, n_features) full matrices, standardised units
    ood_threshold: float  # per-bar log-likelihood below which a bar is state -1
    n_train: int  # bars the model was fitted on


class RegimeModel:
    """Gaussian HMM regimes over feature columns; see the module docstring for the choices.

    ``fit`` and ``predict`` take a feature frame (:func:`core.market.features.compute_features`); rows with
    a NaN in any input column (the warm-up) are left out of fitting and get no state."""

    def __init__(
        self,
        n_states: int = 3,
        *,
        columns: Sequence[str] = DEFAULT_COLUMNS,
        order_by: str = DEFAULT_ORDER_BY,
        covariance_type: str = "full",
        ood_quantile: float = OOD_QUANTILE,
        random_state: int = RANDOM_STATE,
        n_iter: int = 200,
        tol_per_bar: float = 1e-6,
        feature_version: str = FEATURE_VERSION,
    ) -> None:
        if n_states < 1:
            raise RegimeModelError("n_states must be at least 1")
        if covariance_type not in COVARIANCE_TYPES:
            raise RegimeModelError(f"covariance_type must be one of {COVARIANCE_TYPES}")
        if order_by not in columns:
            raise RegimeModelError(f"order_by column {order_by!r} is not among the model's columns")
        if not 0.0 <= ood_quantile < 1.0:
            raise RegimeModelError("ood_quantile must be in [0, 1)")
        self.n_states = int(n_states)
        self.columns = tuple(columns)
        self.order_by = order_by
        self.covariance_type = covariance_type
        self.ood_quantile = float(ood_quantile)
        self.random_state = int(random_state)
        self.n_iter = int(n_iter)
        self.tol_per_bar = float(tol_per_bar)
        self.feature_version = feature_version
        self._params: RegimeParams | None = None
        self._hmm: GaussianHMM | None = None
        self._model_id: str | None = None

    # -- fitting -----------------------------------------------------------------------------------------

    @property
    def fitted(self) -> bool:
        return self._params is not None

    @property
    def params(self) -> RegimeParams:
        return self._require_fitted()

    @property
    def model_id(self) -> str:
        """``hmm<n>-<feature version>-<8 hex of a hash of the fitted parameters>`` (<= 50 characters)."""
        self._require_fitted()
        assert self._model_id is not None
        return self._model_id

    @property
    def min_fit_rows(self) -> int:
        """Fewest complete rows ``fit`` accepts: five per free parameter of the HMM."""
        d, k = len(self.columns), self.n_states
        per_state_cov = d * (d + 1) // 2 if self.covariance_type == "full" else d
        return 5 * (k * d + k * per_state_cov + k * (k - 1))

    def fit(self, features: pd.DataFrame) -> RegimeModel:
        """Fit on the rows of ``features`` without NaN in the model's columns; returns ``self``.

        Deterministic: the same rows give the same parameters, labels and ``model_id``. The start
        probabilities are not learnt (one training sequence would pin them on the state of its first
        bar, and every later prediction would start there); they are set to the stationary distribution."""
        z_all, valid = self._inputs(features, scale=None)
        n = int(valid.sum())
        if n < self.min_fit_rows:
            raise RegimeModelError(
                f"too few bars to fit a {self.n_states}-state model: {n} complete rows, need {self.min_fit_rows}"
            )
        x = z_all[valid]
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std == 0] = 1.0
        z = (x - mean) / std
        hmm = GaussianHMM(
            n_components=self.n_states,
            covariance_type=self.covariance_type,
            random_state=self.random_state,
            n_iter=self.n_iter,
            tol=self.tol_per_bar * n,  # hmmlearn's tol is on the total log-likelihood: scale it with the bars
            params="tmc",
            init_params="stmc",
            implementation="scaling",  # same fit as "log" for a few states, about twice as fast
        )
        with _quiet_hmmlearn():
            hmm.fit(z, _run_lengths(valid))
        order = np.argsort(hmm.means_[:, self.columns.index(self.order_by)], kind="stable")
        transmat = hmm.transmat_[np.ix_(order, order)]
        params = RegimeParams(
            mean=mean,
            std=std,
            startprob=_stationary(transmat),
            transmat=transmat,
            means=hmm.means_[order],
            covars=hmm.covars_[order],
            ood_threshold=0.0,
            n_train=n,
        )
        self._install(params)
        train_ll = self._log_likelihood(z)
        threshold = float(np.quantile(train_ll, self.ood_quantile)) if self.ood_quantile > 0 else -np.inf
        self._install(replace(params, ood_threshold=threshold))
        return self

    # -- prediction --------------------------------------------------------------------------------------

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per row of ``features`` (same index): ``state_id`` (Int64: 0 = calmest .. n-1, -1 = out of
        distribution, <NA> without complete features), ``state_prob`` (smoothed posterior probability of the
        most likely state, kept for -1 too) and ``log_likelihood`` (see the module docstring).

        The complete rows are one sequence per run of consecutive complete rows (a NaN row breaks it)."""
        params = self._require_fitted()
        assert self._hmm is not None
        z_all, valid = self._inputs(features, scale=params)
        n = len(features)
        state = pd.array(np.full(n, pd.NA), dtype="Int64")
        prob = np.full(n, np.nan)
        ll = np.full(n, np.nan)
        if valid.any():
            z = z_all[valid]
            with _quiet_hmmlearn():
                posteriors = self._hmm.predict_proba(z, _run_lengths(valid))
            best = posteriors.argmax(axis=1)
            bar_ll = self._log_likelihood(z)
            state[valid] = np.where(bar_ll < params.ood_threshold, OOD_STATE, best)
            prob[valid] = np.clip(posteriors[np.arange(len(z)), best], 0.0, 1.0)
            ll[valid] = bar_ll
        return pd.DataFrame({"state_id": state, "state_prob": prob, "log_likelihood": ll}, index=features.index)

    def state_means(self) -> pd.DataFrame:
        """Mean of each input column per state, in feature units (rows: state 0 = calmest); for legends."""
        p = self._require_fitted()
        return pd.DataFrame(p.means * p.std + p.mean, columns=list(self.columns)).rename_axis("state_id")

    # -- persistence -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of the fitted model (floats are exact: JSON round-trips float64)."""
        p = self._require_fitted()
        return {
            "kind": _MODEL_KIND,
            "model_id": self.model_id,
            **self._config(),
            "params": {
                "mean": p.mean.tolist(),
                "std": p.std.tolist(),
                "startprob": p.startprob.tolist(),
                "transmat": p.transmat.tolist(),
                "means": p.means.tolist(),
                "covars": p.covars.tolist(),
                "ood_threshold": p.ood_threshold,
                "n_train": p.n_train,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegimeModel:
        """The model :meth:`to_dict` described; refuses a dict whose parameters do not match its model_id."""
        if data.get("kind") != _MODEL_KIND:
            raise RegimeModelError(f"not a regime model description (kind {data.get('kind')!r})")
        model = cls(
            data["n_states"],
            columns=data["columns"],
            order_by=data["order_by"],
            covariance_type=data["covariance_type"],
            ood_quantile=data["ood_quantile"],
            random_state=data["random_state"],
            n_iter=data["n_iter"],
            tol_per_bar=data["tol_per_bar"],
            feature_version=data["feature_version"],
        )
        raw = data["params"]
        model._install(
            RegimeParams(
                **{k: np.asarray(raw[k], dtype=np.float64) for k in ("mean", "std", "startprob", "transmat", "means")},
                covars=np.asarray(raw["covars"], dtype=np.float64),
                ood_threshold=float(raw["ood_threshold"]),
                n_train=int(raw["n_train"]),
            )
        )
        if model.model_id != data.get("model_id"):
            raise RegimeModelError(f"model_id {data.get('model_id')!r} does not match the parameters given")
        return model

    # -- internals ---------------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "n_states": self.n_states,
            "columns": list(self.columns),
            "order_by": self.order_by,
            "covariance_type": self.covariance_type,
            "ood_quantile": self.ood_quantile,
            "random_state": self.random_state,
            "n_iter": self.n_iter,
            "tol_per_bar": self.tol_per_bar,
            "feature_version": self.feature_version,
        }

    def _require_fitted(self) -> RegimeParams:
        if self._params is None:
            raise RegimeModelError("the regime model is not fitted")
        return self._params

    def _install(self, params: RegimeParams) -> None:
        """Make ``params`` the model's: an hmmlearn model carrying them, and the id they hash to."""
        hmm = GaussianHMM(n_components=self.n_states, covariance_type=self.covariance_type)
        hmm.n_features = len(self.columns)
        hmm.startprob_ = params.startprob
        hmm.transmat_ = params.transmat
        hmm.means_ = params.means
        hmm.covars_ = params.covars if self.covariance_type == "full" else np.diagonal(params.covars, axis1=1, axis2=2)
        self._params, self._hmm = params, hmm
        self._model_id = self._hash_id(params)

    def _hash_id(self, p: RegimeParams) -> str:
        # Rounded to 10 significant digits, so the last bits of a BLAS reduction cannot change the id.
        def rounded(a: np.ndarray | float) -> list[str]:
            return [f"{x:.10g}" for x in np.ravel(a)]

        payload = {
            **self._config(),
            **{k: rounded(getattr(p, k)) for k in ("mean", "std", "startprob", "transmat", "means", "covars")},
            "ood_threshold": rounded(p.ood_threshold),
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]
        return f"hmm{self.n_states}-{self.feature_version}-{digest}"[:50]

    def _inputs(self, features: pd.DataFrame, scale: RegimeParams | None) -> tuple[np.ndarray, np.ndarray]:
        """(the model's columns as float64, standardised when ``scale`` is given; mask of complete rows)."""
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise RegimeModelError(f"features lack column(s): {', '.join(missing)}")
        x = features[list(self.columns)].to_numpy(dtype=np.float64, na_value=np.nan)
        valid = np.isfinite(x).all(axis=1)
        if scale is not None:
            x = (x - scale.mean) / scale.std
        return x, valid

    def _log_likelihood(self, z: np.ndarray) -> np.ndarray:
        """log sum_k pi_k N(z; mu_k, Sigma_k) per row of standardised inputs (pi: stationary distribution)."""
        p = self._require_fitted()
        with np.errstate(divide="ignore"):
            log_pi = np.log(p.startprob)
        per_state = np.column_stack(
            [
                np.atleast_1d(multivariate_normal(mean=p.means[k], cov=p.covars[k], allow_singular=True).logpdf(z))
                for k in range(self.n_states)
            ]
        )
        return logsumexp(per_state + log_pi, axis=1)


@contextmanager
def _quiet_hmmlearn() -> Iterator[None]:
    with warnings.catch_warnings():
        # hmmlearn 0.3.3 sets ndarray.shape in its normalisation helpers, which NumPy 2.5 deprecates (upstream's code).
        warnings.filterwarnings("ignore", message="Setting the shape on a NumPy array", category=DeprecationWarning)
        yield


def _stationary(transmat: np.ndarray) -> np.ndarray:
    """The stationary distribution pi = pi P (left eigenvector for eigenvalue 1, non-negative, sums to 1)."""
    eigvals, eigvecs = np.linalg.eig(transmat.T)
    vec = np.abs(np.real(eigvecs[:, np.argmin(np.abs(eigvals - 1.0))]))
    return vec / vec.sum()


def _run_lengths(valid: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive True values: the sequences hmmlearn sees."""
    padded = np.concatenate([[False], valid, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[1::2] - edges[::2]
