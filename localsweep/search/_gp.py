"""A Gaussian-process sampler for Optuna that needs only numpy and scipy.

Optuna's own ``GPSampler`` needs PyTorch, an optional extra here; without it ``method:
bayes`` would fall back to TPE, which does worse than wandb's engine on small continuous
problems. This sampler fills that gap:

- every parameter is mapped to [0, 1] (log-scale ones in log space, ints relaxed over
  cells of equal width, categoricals one-hot); values are scaled to unit spread with
  the GP's prior mean at the worst tenth of the values seen (see ``_scale_values``);
- a Matern-5/2 kernel with one length scale per column, fitted by maximizing the log
  marginal likelihood plus Optuna's GPSampler's priors on the length scales, signal
  and noise (see ``_log_prior_penalty``) by L-BFGS-B from a few starts, with bounded
  hyperparameters and a small noise floor;
- log expected improvement over the posterior mean's best at the observed points,
  maximized over scrambled Sobol candidates and perturbations of the best points, the
  best few polished by L-BFGS-B on the continuous columns;
- running trials enter the model as constant liars (the worse of the model's mean and
  the prior mean), so agents running in parallel spread out;
- failed and pruned trials are left out, as Optuna's GP does; the first ``n_startup``
  trials come from the independent (random) sampler.

The GP is fitted on at most ``max_fit_trials`` trials (the best fifth and the most
recent rest), so a proposal's cost stops growing with the sweep.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from localsweep._lazy import lazy_module

# Loaded when the GP first fits, not when an agent starts: its first runs are random
# startup trials, and scipy.stats (for qmc) alone costs a second of CPU.
linalg = lazy_module("scipy.linalg")
optimize = lazy_module("scipy.optimize")
special = lazy_module("scipy.special")
qmc = lazy_module("scipy.stats.qmc")

try:  # optional: shipped with scikit-learn, often present
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover
    threadpool_limits = None

__all__ = ["NumpyGPSampler"]

log = logging.getLogger(__name__)

_SQRT5 = math.sqrt(5.0)
# Bounds of the fitted hyperparameters, in log space, for inputs in [0, 1] and
# standardized outputs. The noise floor keeps the kernel matrix well conditioned.
_LOG_LENGTH = (math.log(1e-3), math.log(1e3))
_LOG_SIGNAL = (math.log(1e-3), math.log(1e3))
_LOG_NOISE = (math.log(1e-6), math.log(1.0))


class _Encoding:
    """Optuna params to rows in [0, 1]^columns, and back."""

    def __init__(self, space: dict[str, BaseDistribution]):
        self.space = space
        self.slices: dict[str, slice] = {}
        width = 0
        for name, dist in space.items():
            n = len(dist.choices) if isinstance(dist, CategoricalDistribution) else 1
            self.slices[name] = slice(width, width + n)
            width += n
        self.width = width
        self.continuous = np.zeros(width, dtype=bool)
        #: The param of each column: a categorical's one-hot columns share a length scale.
        self.groups = np.zeros(width, dtype=int)
        for j, (name, dist) in enumerate(space.items()):
            self.continuous[self.slices[name]] = not isinstance(dist, CategoricalDistribution)
            self.groups[self.slices[name]] = j

    def _range(self, dist: BaseDistribution) -> tuple[float, float, bool]:
        """The interval a numeric param fills, widened by half a step for grids so that
        every grid value owns a cell of the same width."""
        assert isinstance(dist, (FloatDistribution, IntDistribution))
        half = 0.0 if dist.step is None else dist.step / 2.0
        lo, hi = dist.low - half, dist.high + half
        return (math.log(lo), math.log(hi), True) if dist.log else (lo, hi, False)

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        row = np.zeros(self.width)
        for name, dist in self.space.items():
            s = self.slices[name]
            if isinstance(dist, CategoricalDistribution):
                row[s.start + int(dist.to_internal_repr(params[name]))] = 1.0
                continue
            lo, hi, is_log = self._range(dist)
            x = math.log(params[name]) if is_log else float(params[name])
            row[s.start] = min(max((x - lo) / (hi - lo), 0.0), 1.0)
        return row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, dist in self.space.items():
            s = self.slices[name]
            if isinstance(dist, CategoricalDistribution):
                out[name] = dist.to_external_repr(int(np.argmax(row[s])))
                continue
            assert isinstance(dist, (FloatDistribution, IntDistribution))
            lo, hi, is_log = self._range(dist)
            x = lo + float(np.clip(row[s.start], 0.0, 1.0)) * (hi - lo)
            x = math.exp(x) if is_log else x
            if dist.step is not None:
                x = dist.low + round((x - dist.low) / dist.step) * dist.step
            x = min(max(x, dist.low), dist.high)
            out[name] = round(x) if isinstance(dist, IntDistribution) else float(x)
        return out

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Rows from points of [0, 1]^params (one coordinate per param, a categorical's
        coordinate picking its choice), for candidates drawn per param."""
        rows = np.zeros((len(u), self.width))
        for j, (name, dist) in enumerate(self.space.items()):
            s = self.slices[name]
            if isinstance(dist, CategoricalDistribution):
                k = np.minimum((u[:, j] * len(dist.choices)).astype(int), len(dist.choices) - 1)
                rows[np.arange(len(u)), s.start + k] = 1.0
            else:
                rows[:, s.start] = u[:, j]
        return rows


class _GP:
    """A zero-mean GP with a Matern-5/2 ARD kernel, fitted to standardized values."""

    def __init__(self, x: np.ndarray, y: np.ndarray, theta: np.ndarray):
        self.x, self.y = x, y
        d = x.shape[1]
        self.inv_ls2 = np.exp(-2.0 * theta[:d])
        self.signal, self.noise = math.exp(theta[d]), math.exp(theta[d + 1])
        k = self.signal * _matern(_sq_dist(x, x, self.inv_ls2)) + self.noise * np.eye(len(x))
        self.chol = _cholesky(k)
        self.alpha = linalg.cho_solve((self.chol, True), y)

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``xs``."""
        ks = self.signal * _matern(_sq_dist(xs, self.x, self.inv_ls2))
        v = linalg.solve_triangular(self.chol, ks.T, lower=True)
        var = np.maximum(self.signal - np.sum(v * v, axis=0), 1e-12)
        return ks @ self.alpha, np.sqrt(var)

    def log_ei_and_grad(self, x: np.ndarray, best: float, mask: np.ndarray) -> tuple[float, Any]:
        """log EI at one point and its gradient along the ``mask`` columns."""
        diff = x[None, :] - self.x
        r = np.sqrt(np.maximum(np.sum(diff * diff * self.inv_ls2, axis=1), 0.0))
        e = np.exp(-_SQRT5 * r)
        ks = self.signal * (1.0 + _SQRT5 * r + 5.0 / 3.0 * r * r) * e
        dks = -(self.signal * 5.0 / 3.0 * (1.0 + _SQRT5 * r) * e)[:, None] * diff * self.inv_ls2
        w = linalg.cho_solve((self.chol, True), ks)
        var = max(self.signal - float(ks @ w), 1e-12)
        sd = math.sqrt(var)
        mu = float(ks @ self.alpha)
        dmu, dsd = dks.T @ self.alpha, -(dks.T @ w) / sd
        z = (best - mu) / sd
        h = float(_log_h(np.array([z]))[0])
        dh = math.exp(float(special.log_ndtr(z)) - h)
        grad = dsd / sd + dh * (-dmu / sd - z * dsd / sd)
        return math.log(sd) + h, grad[mask]


def _scale_values(values: np.ndarray) -> np.ndarray:
    """``values`` (lower is better) divided by their spread and shifted so that 0, the
    zero-mean GP's prior mean, is their 90th percentile: the worst tenth, not the average.

    A zero prior mean is what a point far from every run is predicted to be. At the
    average, the model expects an unexplored corner to be as good as a typical run and
    its EI stays high there; most of a search space is worse than that (on Hartmann6,
    almost all of it is flat and poor), and the search kept spending runs on corners
    after it had found the optimum's basin. De Ath, Fieldsend and Everson, "What do you
    mean? The role of the mean function in Bayesian optimisation" (GECCO 2020), found a
    constant mean at the worst value seen the best choice, most of all in higher
    dimensions. The 90th percentile rather than the worst keeps one diverged run from
    setting it. Median regret at 50 runs, 20 seeds (benchmarks/quality.py): Hartmann6
    0.0038 -> 0.000088, mixed8d 0.023 -> 0.014, noisy Hartmann3 0.16 -> 0.094 (see
    docs/bayes.md).
    """
    spread = float(values.std())
    return (values - np.quantile(values, 0.9)) / (spread if spread > 0 else 1.0)


def _sq_dist(a: np.ndarray, b: np.ndarray, inv_ls2: np.ndarray) -> np.ndarray:
    sa, sb = a * np.sqrt(inv_ls2), b * np.sqrt(inv_ls2)
    d2 = np.sum(sa * sa, 1)[:, None] + np.sum(sb * sb, 1)[None, :] - 2.0 * sa @ sb.T
    return np.maximum(d2, 0.0)


def _matern(r2: np.ndarray) -> np.ndarray:
    r = np.sqrt(r2)
    return (1.0 + _SQRT5 * r + 5.0 / 3.0 * r2) * np.exp(-_SQRT5 * r)


def _cholesky(k: np.ndarray) -> np.ndarray:
    # Repeated points make K singular up to the noise floor; a little more jitter then.
    jitter = 0.0
    for _ in range(6):
        try:
            return np.linalg.cholesky(k + jitter * np.eye(len(k)))
        except np.linalg.LinAlgError:
            jitter = 1e-8 if jitter == 0.0 else jitter * 10.0
    return np.linalg.cholesky(k + 1e-2 * np.eye(len(k)))


def _log_h(z: np.ndarray) -> np.ndarray:
    """log(z Phi(z) + phi(z)), the log of EI at unit sd, without underflow for z << 0."""
    out = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    out[hi] = np.log(zh * special.ndtr(zh) + np.exp(-0.5 * zh * zh) / math.sqrt(2 * math.pi))
    a = -np.maximum(z[~hi], -1e4)
    # For z < 0: phi(z) * (1 - |z| * Mills(|z|)), Mills through erfcx to stay finite.
    mills = special.erfcx(a / math.sqrt(2.0)) * math.sqrt(math.pi / 2.0)
    out[~hi] = -0.5 * a * a - 0.5 * math.log(2 * math.pi) + np.log1p(-a * mills)
    return out


def _neg_log_posterior(theta: np.ndarray, x: np.ndarray, y: np.ndarray, sq: np.ndarray) -> Any:
    """Negative log marginal likelihood plus the length-scale prior, and its gradient;
    ``sq`` holds each param's squared distance, ``theta`` one length scale per param."""
    n, d = len(y), sq.shape[2]
    inv_ls2 = np.exp(-2.0 * theta[:d])
    signal, noise = math.exp(theta[d]), math.exp(theta[d + 1])
    scaled = sq * inv_ls2  # (n, n, d): each column's share of r^2
    r = np.sqrt(scaled.sum(axis=2))
    e = np.exp(-_SQRT5 * r)
    m = (1.0 + _SQRT5 * r + 5.0 / 3.0 * r * r) * e
    chol = _cholesky(signal * m + noise * np.eye(n))
    alpha = linalg.cho_solve((chol, True), y)
    nll = 0.5 * float(y @ alpha) + float(np.sum(np.log(np.diag(chol))))
    inner = np.outer(alpha, alpha) - linalg.cho_solve((chol, True), np.eye(n))
    g = inner * (signal * 5.0 / 3.0 * (1.0 + _SQRT5 * r) * e)
    grad = np.empty_like(theta)
    grad[:d] = -0.5 * np.einsum("ij,ijk->k", g, scaled)
    grad[d] = -0.5 * float(np.sum(inner * signal * m))
    grad[d + 1] = -0.5 * noise * float(np.trace(inner))
    prior, prior_grad = _log_prior_penalty(theta, d)
    return nll + prior, grad + prior_grad


def _log_prior_penalty(theta: np.ndarray, d: int) -> tuple[float, np.ndarray]:
    """Minus the log prior of the hyperparameters (``theta``: log length scales, log
    signal and log noise variance) and its gradient; Optuna's GPSampler's priors.

    With ``lam = 1 / length**2``: ``0.1 / lam + 0.1 * lam`` on each length scale (it
    favours scales near 1, the width of the unit cube the params fill, and penalizes
    long ones as much as short ones), Gamma(2, 1) on the signal variance and
    Gamma(1.1, 30) on the noise variance (small noise unless the data say otherwise).
    The log-normal length-scale prior used before (median ``exp(sqrt 2) * sqrt(d)``, about
    10 in 6 dimensions) made the model so smooth that it kept exploring where it should
    have closed in: on Hartmann6, median regret after 25 runs 1.97 against 0.62 with
    these priors, and every other problem of benchmarks/quality.py gained or held too
    (see docs/bayes.md).
    """
    lam = np.exp(-2.0 * theta[:d])
    signal, noise = math.exp(theta[d]), math.exp(theta[d + 1])
    penalty = float(np.sum(0.1 / lam + 0.1 * lam))
    penalty += -theta[d] + signal  # -log Gamma(2, 1) density, up to a constant
    penalty += -0.1 * theta[d + 1] + 30.0 * noise  # -log Gamma(1.1, 30)
    grad = np.zeros_like(theta)
    grad[:d] = 0.2 / lam - 0.2 * lam  # d/dtheta, as dlam/dtheta = -2 lam
    grad[d] = -1.0 + signal
    grad[d + 1] = -0.1 + 30.0 * noise
    return penalty, grad


def _fit(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, rng: np.random.Generator, starts: int
) -> _GP:
    d = int(groups.max()) + 1
    col_sq = (x[:, None, :] - x[None, :, :]) ** 2
    sq = np.stack([col_sq[:, :, groups == j].sum(axis=2) for j in range(d)], axis=2)
    bounds = [_LOG_LENGTH] * d + [_LOG_SIGNAL, _LOG_NOISE]
    # The first start at the priors' modes, the others scattered around them.
    inits = [np.r_[np.zeros(d), 0.0, math.log(1e-3)]]
    for _ in range(starts - 1):
        ls = np.clip(rng.normal(0.0, 1.0, d), *_LOG_LENGTH)
        inits.append(np.r_[ls, rng.uniform(-1.0, 1.0), rng.uniform(math.log(1e-6), -2.0)])
    best: Any = None
    for theta0 in inits:
        res = optimize.minimize(
            _neg_log_posterior, theta0, (x, y, sq), jac=True, method="L-BFGS-B", bounds=bounds
        )
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    theta = best.x if best is not None else inits[0]
    return _GP(x, y, np.r_[theta[:d][groups], theta[d:]])


class NumpyGPSampler(BaseSampler):
    """Optuna sampler: a Matern-5/2 GP with log EI, on numpy and scipy alone.

    ``n_startup_trials`` (default: twice the number of params, between 5 and 10)
    complete trials are drawn by ``independent_sampler`` (default ``RandomSampler``)
    before the GP takes over; it also samples any param outside the relative search
    space. The GP fits at most ``max_fit_trials`` complete trials. Single objective
    only. The same study and seed give the same proposal.

    >>> import optuna
    >>> study = optuna.create_study(sampler=NumpyGPSampler(seed=0))
    >>> study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=15)
    >>> abs(study.best_params["x"] - 0.3) < 0.1
    True
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_startup_trials: int | None = None,
        max_fit_trials: int = 300,
        independent_sampler: BaseSampler | None = None,
        n_candidates: int = 1024,
    ):
        self._rng = np.random.default_rng(seed)
        self._n_startup = n_startup_trials
        self._max_fit = max_fit_trials
        self._n_candidates = n_candidates
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._space = IntersectionSearchSpace()

    def reseed_rng(self) -> None:
        """Forget the seed (Optuna calls this in forked workers)."""
        self._rng = np.random.default_rng()
        self._independent.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Every param all trials so far share, minus those with a single value."""
        return {n: d for n, d in self._space.calculate(study).items() if not d.single()}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The GP's proposal for ``search_space``, or ``{}`` while still starting up."""
        self._raise_error_if_multi_objective(study)
        if not search_space:
            return {}
        trials = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        done = [
            t
            for t in trials
            if t.value is not None
            and math.isfinite(t.value)
            and search_space.keys() <= t.params.keys()
        ]
        startup = self._n_startup
        if startup is None:
            startup = min(10, max(5, 2 * len(search_space)))
        if len(done) < max(startup, 2):
            return {}
        running = [
            t
            for t in study._get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.number != trial.number and search_space.keys() <= t.params.keys()
        ]
        sign = -1.0 if study.direction is StudyDirection.MAXIMIZE else 1.0
        if threadpool_limits is None:
            return self._propose(_Encoding(search_space), done, running, sign)
        # Thousands of small matrix calls: BLAS threads only fight each other over them,
        # several times slower on a busy machine.
        with threadpool_limits(limits=1, user_api="blas"):
            return self._propose(_Encoding(search_space), done, running, sign)

    def _propose(
        self,
        enc: _Encoding,
        done: Sequence[FrozenTrial],
        running: Sequence[FrozenTrial],
        sign: float,
    ) -> dict[str, Any]:
        values = np.array([sign * float(t.value) for t in done])  # type: ignore[arg-type]
        keep = self._fit_subset(values)
        x = np.array([enc.encode(done[i].params) for i in keep])
        y = _scale_values(values[keep])
        gp = _fit(x, y, enc.groups, self._rng, starts=3 if len(y) <= 100 else 2)
        if running:
            xr = np.array([enc.encode(t.params) for t in running])
            lie = np.maximum(gp.predict(xr)[0], 0.0)  # never better than the prior mean
            theta = np.r_[-0.5 * np.log(gp.inv_ls2), math.log(gp.signal), math.log(gp.noise)]
            gp = _GP(np.vstack([x, xr]), np.r_[y, lie], theta)
        best = float(np.min(gp.predict(x)[0]))
        return enc.decode(self._maximize_log_ei(gp, enc, x, y, best))

    def _fit_subset(self, values: np.ndarray) -> np.ndarray:
        n = len(values)
        if n <= self._max_fit:
            return np.arange(n)
        n_best = self._max_fit // 5
        best = np.argsort(values, kind="stable")[:n_best]
        recent = [i for i in range(n - 1, -1, -1) if i not in set(best)]
        return np.sort(np.r_[best, recent[: self._max_fit - n_best]]).astype(int)

    def _maximize_log_ei(
        self, gp: _GP, enc: _Encoding, x: np.ndarray, y: np.ndarray, best: float
    ) -> np.ndarray:
        sobol = qmc.Sobol(len(enc.space), seed=self._rng)
        cands = [enc.from_unit(sobol.random(self._n_candidates))]
        # Small steps around the best points so far: EI's peak is often right next to them.
        # Half of them also take another choice of one categorical.
        cats = [
            enc.slices[n] for n, d in enc.space.items() if isinstance(d, CategoricalDistribution)
        ]
        for i in np.argsort(y)[:5]:
            local = np.repeat(x[i][None, :], 64, axis=0)
            step = self._rng.normal(0.0, 0.05, local.shape) * enc.continuous
            local = np.clip(local + step, 0.0, 1.0)
            for row in local[: 32 if cats else 0]:
                s = cats[self._rng.integers(len(cats))]
                row[s] = 0.0
                row[s.start + self._rng.integers(s.stop - s.start)] = 1.0
            cands.append(local)
        pool = np.vstack(cands)
        mu, sd = gp.predict(pool)
        scores = np.log(sd) + _log_h((best - mu) / sd)
        mask = enc.continuous
        top = np.argsort(-scores, kind="stable")[:5]
        winner, winner_score = pool[top[0]], float(scores[top[0]])
        if not mask.any():
            return winner
        for i in top:
            start = pool[i].copy()

            def negative(u: np.ndarray, start: np.ndarray = start) -> tuple[float, np.ndarray]:
                point = start.copy()
                point[mask] = u
                value, grad = gp.log_ei_and_grad(point, best, mask)
                return -value, -grad

            res = optimize.minimize(
                negative,
                start[mask],
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, 1.0)] * int(mask.sum()),
                options={"maxiter": 50},
            )
            if np.isfinite(res.fun) and -res.fun > winner_score:
                winner = start.copy()
                winner[mask] = np.clip(res.x, 0.0, 1.0)
                winner_score = -float(res.fun)
        return winner

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Params outside the relative search space, and all of them while starting up."""
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Passed on to the independent sampler."""
        self._independent.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Passed on to the independent sampler."""
        self._independent.after_trial(study, trial, state, values)
