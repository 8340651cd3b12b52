"""A mixture of K Bradley–Terry heads with annotator-level membership and a context router
(after MiCRo, Shen et al. 2025, "Mixture Modeling and Context-aware Routing for Personalized
Preference Learning"), on frozen sentence embeddings. Pure numpy; no database.

Model. A pair's feature is x = P(e(prompt ⊕ B) − e(prompt ⊕ A)), the MiniLM difference projected
onto its top `dims` principal directions (uncentred: the difference's mean is signal) (so the heads stay small and EM fast). Head k says
P_k(B ≻ A) = σ(w_k · x) (no intercept: A/B order carries no meaning). Each annotator belongs to one
latent group; their labels are independent given it:
    P(labels of u) = Σ_k π_k Π_{l ∈ u} P_k(y_l)
fitted by EM (E: each annotator's posterior over groups = their mixture weights; M: one L2-penalised
weighted logistic regression per head, Newton steps). K is chosen by held-out likelihood: a fifth of
each annotator's labels are held out and predicted with the weights learned from the rest; a
larger K must beat the best smaller one by `min_gain` nats per label and by two standard errors
of the paired per-label gain, so one group gives K = 1.

Router (MiCRo's context-aware routing): w(prompt) = softmax(V · [z, 1]), z the projected prompt
embedding, trained with the heads fixed to maximise Σ_l log Σ_k w_k(prompt_l) P_k(y_l): which
group's view a prompt's labels usually follow.

Where this differs from MiCRo: MiCRo learns the heads on a reward model's hidden states with
per-example (router) mixture weights and no annotator ids, then adapts the router online; here
the heads sit on frozen MiniLM features and membership is per annotator (a latent-class BT model,
which is what "groups of people" needs), with the router fitted afterwards.
"""

from dataclasses import dataclass, field

import numpy as np

RIDGE = 1.0
HELD_OUT = 0.2
MIN_GAIN = 0.005  # nats per held-out label a larger K must gain


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


@dataclass
class Projection:
    mean: np.ndarray
    components: np.ndarray  # dims × d
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, dims: int, center: bool = True) -> "Projection":
        """Top `dims` principal directions. Pair differences are not centred (center=False): their
        mean is signal (every chosen-minus-rejected pointing one way), not an offset to remove."""
        mean = x.mean(axis=0) if center else np.zeros(x.shape[1])
        _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
        comps = vt[: min(dims, vt.shape[0])]
        z = (x - mean) @ comps.T
        scale = np.sqrt((z**2).mean(axis=0))
        scale[scale < 1e-9] = 1.0
        return cls(mean, comps, scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) @ self.components.T) / self.scale


@dataclass
class Labels:
    """People's decisive labels: annotator index, item index, y = 1 when B was preferred."""

    annotator: np.ndarray
    item: np.ndarray
    y: np.ndarray

    def subset(self, mask):
        return Labels(self.annotator[mask], self.item[mask], self.y[mask])


@dataclass
class MixtureFit:
    k: int
    heads: np.ndarray  # K × dims
    pi: np.ndarray  # K
    weights: np.ndarray  # annotators × K: each annotator's posterior over groups
    log_likelihood: float
    heldout: dict = field(default_factory=dict)  # K → mean held-out log-likelihood per label
    router: np.ndarray | None = None  # K × (prompt dims + 1)

    def item_probs(self, x: np.ndarray) -> np.ndarray:
        """items × K: each head's P(B ≻ A)."""
        return _sigmoid(x @ self.heads.T)

    def route(self, z: np.ndarray) -> np.ndarray:
        """prompts × K: the router's group weights."""
        if self.router is None:
            raise ValueError("this fit has no router")
        logits = np.column_stack([z, np.ones(len(z))]) @ self.router.T
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        return w / w.sum(axis=1, keepdims=True)


def _label_loglik(x, labels, heads):
    """labels × K log P_k(y_l)."""
    z = x[labels.item] @ heads.T
    sign = np.where(labels.y[:, None] > 0, 1.0, -1.0)
    return _log_sigmoid(sign * z)


def _annotator_loglik(ll, labels, n_annotators):
    out = np.zeros((n_annotators, ll.shape[1]))
    for k in range(ll.shape[1]):
        out[:, k] = np.bincount(labels.annotator, weights=ll[:, k], minlength=n_annotators)
    return out


def _weighted_logistic(x, y, w, beta, ridge=RIDGE, steps=3):
    for _ in range(steps):
        p = _sigmoid(x @ beta)
        grad = x.T @ (w * (y - p)) - ridge * beta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + ridge * np.eye(x.shape[1])
        beta = beta + np.linalg.solve(hess, grad)
    return beta


def fit_em(x, labels, n_annotators, k, iters=60, n_init=3, seed=0, tol=1e-5) -> MixtureFit:
    """The best of `n_init` EM runs (by training log-likelihood) for a fixed K."""
    rng = np.random.default_rng(seed)
    xl, y = x[labels.item], labels.y.astype(float)
    best: MixtureFit | None = None
    for _ in range(n_init if k > 1 else 1):
        resp = rng.dirichlet(np.ones(k), size=n_annotators) if k > 1 else np.ones((n_annotators, 1))
        heads = np.zeros((k, x.shape[1]))
        previous = -np.inf
        for _ in range(iters):
            pi = (resp.sum(axis=0) + 1.0) / (n_annotators + k)
            for j in range(k):
                heads[j] = _weighted_logistic(xl, y, resp[labels.annotator, j], heads[j])
            joint = _annotator_loglik(_label_loglik(x, labels, heads), labels, n_annotators) + np.log(pi)
            top = joint.max(axis=1, keepdims=True)
            total = float((top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))).sum())
            resp = np.exp(joint - top)
            resp /= resp.sum(axis=1, keepdims=True)
            if total - previous < tol * max(1, len(y)):
                break
            previous = total
        if best is None or total > best.log_likelihood:
            best = MixtureFit(k=k, heads=heads.copy(), pi=pi, weights=resp, log_likelihood=total)
    assert best is not None  # at least one run
    return best


def heldout_split(labels, fraction=HELD_OUT, seed=0):
    """A mask of held-out labels: `fraction` of each annotator's labels (none from annotators with < 5)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels.y), dtype=bool)
    for a in np.unique(labels.annotator):
        idx = np.flatnonzero(labels.annotator == a)
        if len(idx) >= 5:
            mask[rng.choice(idx, size=max(1, int(round(fraction * len(idx)))), replace=False)] = True
    return mask


def heldout_loglik(fit, x, held) -> np.ndarray:
    """log P(y) of each held-out label, each annotator's groups weighted by their training posterior."""
    ll = _label_loglik(x, held, fit.heads)
    w = np.clip(fit.weights[held.annotator], 1e-12, None)
    top = ll.max(axis=1, keepdims=True)
    return top[:, 0] + np.log((w * np.exp(ll - top)).sum(axis=1))


def fit_router(fit, x, z, labels, prompt_of_item, steps=300, lr=0.5, ridge=1e-3) -> np.ndarray:
    """MiCRo's router objective with the heads fixed (full-batch gradient ascent on
    Σ_l log Σ_k softmax(V·[z_l, 1])_k P_k(y_l)). Returns V (K × (prompt dims + 1))."""
    zl = np.column_stack([z, np.ones(len(z))])[prompt_of_item[labels.item]]
    lik = np.exp(_label_loglik(x, labels, fit.heads))
    v = np.zeros((fit.k, zl.shape[1]))
    v[:, -1] = np.log(fit.pi)
    for _ in range(steps):
        logits = zl @ v.T
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        w /= w.sum(axis=1, keepdims=True)
        post = w * lik
        post /= np.clip(post.sum(axis=1, keepdims=True), 1e-300, None)
        v += lr * ((post - w).T @ zl / len(zl) - ridge * v)
    return v


def choose_and_fit(x, labels, n_annotators, k_max=4, min_gain=MIN_GAIN, seed=0) -> MixtureFit:
    """Held-out likelihood for K = 1..k_max, then the chosen K refitted on every label."""
    held_mask = heldout_split(labels, seed=seed)
    train, held = labels.subset(~held_mask), labels.subset(held_mask)
    per_label = {}
    for k in range(1, k_max + 1):
        if k > n_annotators or not len(held.y):
            break
        per_label[k] = heldout_loglik(fit_em(x, train, n_annotators, k, seed=seed), x, held)
    chosen = 1
    for k in sorted(per_label):
        gain = per_label[k] - per_label[chosen]
        # a larger K must win by min_gain per label and by two standard errors of the paired gain
        if gain.mean() > max(min_gain, 2 * gain.std(ddof=1) / np.sqrt(len(gain))):
            chosen = k
    scores = {k: float(v.mean()) for k, v in per_label.items()}
    fit = fit_em(x, labels, n_annotators, chosen, seed=seed)
    fit.heldout = scores
    return fit
