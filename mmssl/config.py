"""MMSSL's hyperparameters and the switches that separate the paper's method from the released code.

Defaults come from the official code's ``utility/parser.py`` (HKUDS/MMSSL at HEAD, which is the
Baby configuration); :data:`DATASET_PRESETS` holds the per-dataset values of the first upload's
``parser.py`` (commit 4f0c2fa; the digest's section 2.11). Every behaviour of the released code
that differs from the paper (the digest's section 2.10) is one named switch, so that
``mmssl`` and ``mmssl-official`` differ only in these values and each can be measured alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from mmbench.config import TrainConfig, require_at_least, require_choice, require_dropout, require_positive
from mmbench.errors import ConfigError

GRAPH_SCHEDULES = ("rolling", "official")
TOPK_PAIRINGS = ("own", "official")
FUSIONS = ("attention", "linear")
CRITIC_OUTPUTS = ("linear", "sigmoid100")
GRAPH_NORMS = ("symmetric", "row")
REAL_ROWS = ("gumbel", "binary")
ADVERSARIAL_TASKS = ("wgan", "gae", "none")
DISCRIMINATOR_INPUTS = ("factored", "dense")

_CHOICES = {
    "graph_schedule": GRAPH_SCHEDULES,
    "topk_pairing": TOPK_PAIRINGS,
    "fusion": FUSIONS,
    "critic_output": CRITIC_OUTPUTS,
    "graph_norm": GRAPH_NORMS,
    "real_rows": REAL_ROWS,
    "adversarial_task": ADVERSARIAL_TASKS,
    "discriminator_input": DISCRIMINATOR_INPUTS,
}


@dataclass(frozen=True)
class MMSSLConfig(TrainConfig):
    """The paper's method (Wei et al., WWW 2023) with the official code's hyperparameters.

    Training as in the code: batches of 1024 distinct users with one positive and one negative
    each (``sampling=users``), validation every epoch, and early stopping after 8 evaluations
    without a gain (the code's ``early_stopping_patience`` 7 stops on the 8th non-improving
    epoch).

    Switches (paper value first; ``mmssl-official`` sets the second):

    - ``graph_schedule``: ``rolling`` keeps each user's latest top-k list and rebuilds the
      generated graphs every ``rebuild_every`` batches from all users (users not yet seen keep
      their training items, so no row is ever empty); ``official`` accumulates the pairs of the
      batches and rebuilds from the accumulated list when ``batch % T == 0`` (empty graphs with
      T = 1 from the third batch of an epoch on);
    - ``topk_pairing``: ``own`` links each user to its own top-k items; ``official`` reproduces
      the tiled user list that joins user ``users[t mod B]`` to user ``users[t // k]``'s items;
    - ``fusion``: ``attention`` is multi-head softmax attention over the modalities; ``linear``
      is what the code's attention reduces to (mean over modalities of one linear map);
    - ``d_negative_slope``: the discriminator's LeakyReLU slope (0.2; the code's
      ``LeakyReLU(True)`` is slope 1, the identity);
    - ``critic_output``: ``linear`` is the unbounded WGAN critic; ``sigmoid100`` the code's
      100 * sigmoid;
    - ``optimizer`` / ``weight_decay``: Adam without decay; the code's AdamW has PyTorch's
      implicit weight decay 0.01;
    - ``graph_norm``: ``symmetric`` is D_u^-1/2 A D_i^-1/2; ``row`` the code's row-only scaling
      D_u^-1/2 A (and D_i^-1/2 A^T for the item side);
    - ``last_layer_softmax``: the code's softmax over embedding dimensions on the last layer.

    Ablation switches (the paper's section 5.2 variants): ``adversarial_task`` ``none`` (w/o-ASL),
    ``cl_rate`` 0 (w/o-CL), ``real_rows`` ``binary`` (w/o-GT: L2-normalised interaction rows
    instead of the Gumbel transformation), ``adversarial_task`` ``gae`` (r/p-GAE: the generator
    maximises the likelihood of observed edges instead of fooling a critic), and one variant per
    modality removed (the run's ``--modalities`` option, common to every model).

    ``discriminator_input`` ``factored`` computes the critic's first layer from the low-rank
    structure of its input rows; ``dense`` materialises the rows (the reference the benchmark
    and the tests compare against; same result, much slower).
    """

    epochs: int = 1000
    batch_size: int = 1024
    sampling: str = "users"
    lr: float = 5.5e-4
    eval_every: int = 1
    patience: int = 8
    embedding_dim: int = 64
    n_ui_layers: int = 2
    feat_dropout: float = 0.2
    id_cat_rate: float = 0.36
    model_cat_rate: float = 0.55
    reg_weight: float = 1e-5
    feat_reg_weight: float = 1e-5
    cl_rate: float = 0.03
    cl_tau: float = 0.5
    g_rate: float = 1e-4
    gae_rate: float = 0.1
    d_lr: float = 3e-4
    gp_weight: float = 0.3
    d_dropout1: float = 0.31
    d_dropout2: float = 0.5
    real_data_tau: float = 0.005
    gumbel_scale: float = 1e-5
    ui_pre_scale: float = 100.0
    m_topk_rate: float = 1e-4
    rebuild_every: int = 1
    attention_heads: int = 4
    graph_schedule: str = "rolling"
    topk_pairing: str = "own"
    fusion: str = "attention"
    d_negative_slope: float = 0.2
    critic_output: str = "linear"
    graph_norm: str = "symmetric"
    last_layer_softmax: bool = False
    real_rows: str = "gumbel"
    adversarial_task: str = "wgan"
    discriminator_input: str = "factored"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, choices in _CHOICES.items():
            require_choice(self, key, choices)
        # Before the divisibility check, which would divide by attention_heads=0.
        require_at_least(self, 1, "rebuild_every", "n_ui_layers", "attention_heads")
        if self.embedding_dim % self.attention_heads:
            raise ConfigError(
                f"embedding_dim {self.embedding_dim} must be divisible by attention_heads {self.attention_heads}"
            )
        require_dropout(self, "feat_dropout", "d_dropout1", "d_dropout2")
        require_positive(self, "real_data_tau", "cl_tau")
        if not 0.0 <= self.m_topk_rate <= 1.0:
            raise ConfigError(f"config key 'm_topk_rate' must be in [0, 1], got {self.m_topk_rate}")


@dataclass(frozen=True)
class OfficialMMSSLConfig(MMSSLConfig):
    """The released code's behaviour (the digest's section 2.10), with its hyperparameters."""

    optimizer: str = "adamw"
    weight_decay: float = 0.01
    graph_schedule: str = "official"
    topk_pairing: str = "official"
    fusion: str = "linear"
    d_negative_slope: float = 1.0
    critic_output: str = "sigmoid100"
    graph_norm: str = "row"
    last_layer_softmax: bool = True


DATASET_PRESETS: Mapping[str, Mapping[str, Any]] = {
    # first-upload parser.py blocks (4f0c2fa): only the values that differ from HEAD/Baby
    "tiktok": {"lr": 5.4e-4, "g_rate": 1.8e-3, "real_data_tau": 0.002, "m_topk_rate": 0.01},
    "baby": {},
}
