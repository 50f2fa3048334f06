"""Regime model on synthetic bars with known volatility regimes: separation, determinism, OOD bars, storage."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from core.db.raw import raw_connection
from core.market.feature_store import FeatureStore, compute_and_store
from core.market.features import FEATURE_VERSION, compute_features
from core.market.frames import check_frame
from core.market.regimes import OOD_STATE, RegimeModel, RegimeModelError
from core.market.store import BarStore

T0 = datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
CALM, WILD = 0.001, 0.006
BLOCK = 600  # bars per regime spell


def regime_bars(n: int = 4 * BLOCK, seed: int = 42) -> tuple[pd.DataFrame, np.ndarray]:
    """Bars whose per-bar volatility alternates between CALM and WILD every BLOCK bars; (frame, sigma per bar)."""
    rng = np.random.default_rng(seed)
    sigma = np.where((np.arange(n) // BLOCK) % 2 == 0, CALM, WILD)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma)))
    open_ = np.concatenate([[100.0], close[:-1]])
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range(T0, periods=n, freq="1min", tz="UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + np.abs(rng.normal(0, sigma / 2))),
            "low": np.minimum(open_, close) * (1 - np.abs(rng.normal(0, sigma / 2))),
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(float),
        }
    )
    checked = check_frame(frame)
    assert checked.rejected.empty
    return checked.valid, sigma


@pytest.fixture(scope="module")
def bars() -> tuple[pd.DataFrame, np.ndarray]:
    return regime_bars()


@pytest.fixture(scope="module")
def features(bars) -> pd.DataFrame:
    return compute_features(bars[0])


@pytest.fixture(scope="module")
def model(features) -> RegimeModel:
    return RegimeModel().fit(features)


def test_the_calm_state_is_state_zero_and_separates_the_regimes(model, features, bars):
    _, sigma = bars
    regimes = model.predict(features)
    state = regimes["state_id"]
    scored = state.notna().to_numpy() & (np.arange(len(state)) % BLOCK >= 25)  # past each switch's window
    calm = scored & (sigma == CALM)
    wild = scored & (sigma == WILD)
    assert (state[calm] == 0).mean() > 0.95
    assert (state[wild] == 0).mean() < 0.05
    means = model.state_means()
    assert means["volatility_20"].is_monotonic_increasing  # states ordered from calmest to wildest
    assert means["volatility_20"].iloc[0] == pytest.approx(CALM, rel=0.2)


def test_predict_output_shape_and_warm_up(model, features):
    regimes = model.predict(features)
    assert regimes.index.equals(features.index)
    assert str(regimes["state_id"].dtype) == "Int64"
    assert regimes["state_id"].iloc[:20].isna().all()  # volatility_20 needs 20 returns
    assert np.isnan(regimes["state_prob"].iloc[:20]).all()
    rest = regimes.iloc[20:]
    assert rest["state_id"].notna().all()
    assert set(rest["state_id"].unique()) <= {OOD_STATE, 0, 1, 2}
    assert ((rest["state_prob"] >= 1 / 3) & (rest["state_prob"] <= 1)).all()  # the most likely of three
    assert np.isfinite(rest["log_likelihood"]).all()
    # the threshold sits at the 0.5th percentile of the training bars
    assert (rest["state_id"] == OOD_STATE).mean() == pytest.approx(0.005, abs=0.002)
    assert model.params.n_train == len(rest)


def test_model_id_names_the_model_and_its_feature_version(model):
    assert re.fullmatch(rf"hmm3-{FEATURE_VERSION}-[0-9a-f]{{8}}", model.model_id)
    assert model.feature_version == FEATURE_VERSION
    other = RegimeModel(n_states=2).fit(compute_features(regime_bars(seed=7)[0]))
    assert other.model_id.startswith(f"hmm2-{FEATURE_VERSION}-")


def test_refitting_from_scratch_gives_the_same_states_and_model_id(model, features):
    again = RegimeModel().fit(features.copy())
    assert again.model_id == model.model_id
    assert_frame_equal(again.predict(features), model.predict(features))


def test_a_model_reloaded_from_its_json_predicts_identically(model, features):
    text = json.dumps(model.to_dict())
    reloaded = RegimeModel.from_dict(json.loads(text))
    assert reloaded.model_id == model.model_id
    assert_frame_equal(reloaded.predict(features), model.predict(features))
    tampered = json.loads(text)
    tampered["params"]["means"][0][0] += 0.5
    with pytest.raises(RegimeModelError, match="does not match"):
        RegimeModel.from_dict(tampered)


def test_an_absurd_bar_is_out_of_distribution(model, bars):
    frame, _ = bars
    jumped = frame.copy()
    i = 2 * BLOCK + 300  # inside a calm spell
    jumped.loc[i:, ["open", "high", "low", "close"]] *= 1.5  # the price level jumps 50% ...
    jumped.loc[i, "open"] = frame.loc[i, "open"]  # ... within bar i
    jumped.loc[i, "low"] = frame.loc[i, "low"]
    regimes = model.predict(compute_features(jumped))
    assert regimes["state_id"].iloc[i] == OOD_STATE
    assert regimes["log_likelihood"].iloc[i] < model.params.ood_threshold
    assert 0 < regimes["state_prob"].iloc[i] <= 1  # the most likely state's probability is still stored
    before = model.predict(compute_features(frame))
    assert (regimes["state_id"].iloc[: i - 50] == before["state_id"].iloc[: i - 50]).all()


def test_unfitted_or_underfed_models_refuse(features):
    with pytest.raises(RegimeModelError, match="not fitted"):
        RegimeModel().predict(features)
    with pytest.raises(RegimeModelError, match="too few bars"):
        RegimeModel().fit(features.iloc[:100])
    with pytest.raises(RegimeModelError, match="lack column"):
        RegimeModel().fit(features.drop(columns=["range"]))


def test_compute_and_store_saves_states_with_version_and_model_id_and_reruns_identically(db, bars):
    frame, _ = bars
    bar_store, feature_store = BarStore(db.engine), FeatureStore(db.engine)
    try:
        bar_store.insert("SPY", "1Min", frame, source="simulated")
        start = frame["timestamp"].iloc[BLOCK]
        features, regimes, model = compute_and_store(bar_store, feature_store, "SPY", "1Min", start=start)
        stored = feature_store.load("SPY", "1Min")
        assert len(stored) == len(frame) - BLOCK
        assert stored["timestamp"].iloc[0] == start
        assert (stored["model_id"] == model.model_id).all()
        assert stored["state_id"].tolist() == regimes["state_id"].tolist()
        assert stored["state_id"].notna().all()  # the bars before start served as warm-up
        with raw_connection(db.engine, autocommit=True) as conn:
            versions = conn.execute("SELECT DISTINCT feature_version FROM computed_features").fetchall()
        assert versions == [(FEATURE_VERSION,)]
        # features of the range are those of the full history
        full = compute_features(frame).iloc[BLOCK:]
        np.testing.assert_allclose(features.to_numpy(), full.to_numpy(), rtol=1e-9)

        # a re-run from scratch replaces the rows with the same values
        _, again, model_again = compute_and_store(bar_store, feature_store, "SPY", "1Min", start=start)
        assert model_again.model_id == model.model_id
        assert_frame_equal(again, regimes)
        assert_frame_equal(feature_store.load("SPY", "1Min"), stored)
        # and the stored model, reloaded, reproduces the stored states
        reloaded = RegimeModel.from_dict(json.loads(json.dumps(model.to_dict())))
        _, third, _ = compute_and_store(bar_store, feature_store, "SPY", "1Min", start=start, model=reloaded)
        assert_frame_equal(third, regimes)
    finally:
        bar_store.close()
