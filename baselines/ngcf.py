"""NGCF (Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019): ID embeddings refined by
embedding propagation layers over the user-item graph.

Each layer l = 1..L turns the node embeddings E^(l-1) (users 0..U-1, then items) into

    E^(l) = LeakyReLU( (L + I) E^(l-1) W1 + b1  +  (L E^(l-1)) ⊙ E^(l-1) W2 + b2 ),

where L = D^-1/2 A D^-1/2 is the normalised user-item adjacency: the first term sums the
neighbours' messages and the node's own (self-connection), the second is the bi-interaction message
e_i ⊙ e_u that makes a message depend on the affinity between the two nodes. Message dropout acts
on E^(l), node dropout on the entries of L. The final embedding of a node concatenates E^(0) and
the L2-normalised E^(1)..E^(L), so it has ``embedding_dim * (n_layers + 1)`` entries; the score is
the dot product of the user's and the item's final embeddings, trained with BPR plus an L2 penalty
on the batch's final embeddings.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_choice, require_dropout
from mmbench.data.dataset import TrainView
from mmbench.models.base import BprBatch, PropagatedEmbeddingModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import sparse_matmul, symmetric_bipartite_adjacency, to_torch_csr, transpose_csr
from mmbench.models.losses import regularised_bpr
from mmbench.search_space import FloatParam, IntParam


PROPAGATIONS = ("paper", "code")

# The slope of tf.nn.leaky_relu's default (alpha=0.2), the activation of the authors' code.
LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class NGCFConfig(TrainConfig):
    """Defaults of the authors' code, xiangwang1223/neural_graph_collaborative_filtering.

    The README's Gowalla command (``--embed_size 64 --layer_size [64,64,64] --lr 0.0001
    --batch_size 1024 --epoch 400 --regs [1e-5] --node_dropout [0.1] --mess_dropout
    [0.1,0.1,0.1]``) gives the embedding width, the three layers of width 64, the learning rate,
    batch size, epoch budget, L2 weight and both dropout ratios; the paper (Sec. 4.2.3) states the
    same width, batch size and depth, with Adam and the learning rate searched in
    {1e-4, 5e-4, 1e-3, 5e-3}. ``NGCF/utility/parser.py`` defaults differ (lr 0.01, one layer);
    the README command is the published setting, so it wins. Its other run, on ml-100k, uses
    lr 5e-4 and 200 epochs.

    The code evaluates every 10 epochs and stops after 5 evaluations without a better recall@20
    (``early_stopping(..., flag_step=5)``), the paper's "no increase for 50 successive epochs":
    ``eval_every=10``, ``patience=5``. Its sampler draws ``batch_size`` distinct users per batch,
    one positive and one negative each, ``n_train // batch_size + 1`` batches per epoch:
    ``sampling=users``.

    Both dropout values are ratios dropped: the parser's help calls them keep probabilities, but
    the code hands ``1 - value`` to ``tf.nn.dropout`` and ``_dropout_sparse`` as the keep
    probability.

    ``node_dropout``: ratio of the graph's entries dropped at each training step. The paper uses
    node dropout; the code applies it only with ``--node_dropout_flag 1``, which the README
    command does not pass (the flag defaults to 0), so the published command trains without it.
    ``node_dropout=0`` gives that run.

    ``propagation``: ``paper`` (the paper's layer, above; default) or ``code`` (the authors' code:
    see :class:`NGCF`).

    No per-dataset settings exist for our datasets: NGCF's authors ran Gowalla, Yelp2018,
    Amazon-Book (and ml-100k in the README), and the MMSSL paper, whose table gives NGCF on
    TikTok and Baby, does not state the settings of its baselines. The LATTICE code
    (CRIPAC-DIG/LATTICE, copied into HKUDS/MMSSL), whose paper first printed the Baby numbers,
    has NGCF only as a backbone option of LATTICE (``--cf_model ngcf``: 2 layers [64, 64],
    lr 5e-4, message dropout 0.1, no node dropout, layer mean instead of concatenation); that is
    not a standalone NGCF setting, so no preset is taken from it.
    """

    epochs: int = 400
    batch_size: int = 1024
    lr: float = 1e-4
    eval_every: int = 10
    patience: int = 5
    sampling: str = "users"
    embedding_dim: int = 64
    n_layers: int = 3
    reg_weight: float = 1e-5
    node_dropout: float = 0.1
    mess_dropout: float = 0.1
    propagation: str = "paper"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "n_layers")
        require_dropout(self, "node_dropout", "mess_dropout")
        require_at_least(self, 0, "reg_weight")
        require_choice(self, "propagation", PROPAGATIONS)


def row_normalised_adjacency_with_self_loops(train: sp.csr_matrix) -> torch.Tensor:
    """D^-1 (A + I) of the (users + items) graph, D the degrees of A + I: the ``norm`` adjacency
    of NGCF's code (its default ``adj_type``). Every row has its self-loop, so none is empty."""
    binary = (train > 0).astype(np.float32).tocsr()
    adjacency = sp.bmat([[None, binary], [binary.T, None]], format="csr", dtype=np.float32)
    with_loops = adjacency + sp.eye(adjacency.shape[0], dtype=np.float32, format="csr")
    degree = np.asarray(with_loops.sum(axis=1)).ravel()
    return to_torch_csr(sp.diags(1.0 / degree) @ with_loops)


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """A sparse CSR tensor from its parts, without the beta warning or an invariant check."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


class _DroppableGraph(nn.Module):
    """A constant sparse CSR matrix, its transpose, and entry dropout for training steps.

    Dropping entries keeps the sparsity pattern and zeroes the dropped values, so the transpose
    of a dropped matrix is the stored transpose pattern with the same values permuted: no sparse
    transpose is rebuilt per step, and :func:`sparse_matmul` keeps its fast backward.
    """

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        transpose = transpose_csr(matrix)
        # Position in ``matrix``'s values of each value of its transpose: transpose the entry
        # numbers (float64 holds them exactly) and read them back.
        entries = torch.arange(matrix.values().numel(), dtype=torch.float64)
        numbering = _csr(matrix.crow_indices(), matrix.col_indices(), entries, matrix.shape)
        order = transpose_csr(numbering).values().long()
        # Non-persistent: rebuilt from the training data, never checkpointed.
        self.register_buffer("crow", matrix.crow_indices(), persistent=False)
        self.register_buffer("col", matrix.col_indices(), persistent=False)
        self.register_buffer("values", matrix.values(), persistent=False)
        self.register_buffer("t_crow", transpose.crow_indices(), persistent=False)
        self.register_buffer("t_col", transpose.col_indices(), persistent=False)
        self.register_buffer("t_order", order, persistent=False)
        self.size = matrix.shape

    def pair(self, dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(matrix, transpose), each entry kept with probability 1 - ``dropout`` and the kept ones
        scaled by 1 / (1 - dropout), as the code's ``_dropout_sparse``; no dropout at 0."""
        values = self.values
        if dropout > 0:
            keep = torch.rand(values.shape, device=values.device) >= dropout
            values = values * keep / (1.0 - dropout)
        return (
            _csr(self.crow, self.col, values, self.size),
            _csr(self.t_crow, self.t_col, values[self.t_order], self.size),
        )


class _PropagationLayer(nn.Module):
    """One embedding propagation layer: the sum message (W1) and the bi-interaction message (W2)."""

    def __init__(self, dim: int, propagation: str) -> None:
        super().__init__()
        self.sum_transform = nn.Linear(dim, dim)  # W1, b1
        self.bi_transform = nn.Linear(dim, dim)  # W2, b2
        self.propagation = propagation
        for linear in (self.sum_transform, self.bi_transform):
            # Xavier (Glorot uniform) for weights and biases alike, as the authors' code initialises
            # its [d_in, d_out] weights and [1, d_out] biases.
            nn.init.xavier_uniform_(linear.weight)
            nn.init.xavier_uniform_(linear.bias.unsqueeze(0))

    def forward(self, embeddings: torch.Tensor, graph: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        side = sparse_matmul(*graph, embeddings)
        if self.propagation == "paper":
            # side = L E: (L + I) E W1 + (L E ⊙ E) W2, one LeakyReLU over the sum.
            return F.leaky_relu(
                self.sum_transform(side + embeddings) + self.bi_transform(side * embeddings), LEAKY_SLOPE
            )
        # side = D^-1 (A + I) E in both messages, a LeakyReLU on each.
        return F.leaky_relu(self.sum_transform(side), LEAKY_SLOPE) + F.leaky_relu(
            self.bi_transform(side * embeddings), LEAKY_SLOPE
        )


class NGCF(PropagatedEmbeddingModel):
    """NGCF: ID embeddings refined by sum and bi-interaction messages over the user-item graph.

    Written from the paper; the authors' TensorFlow code (xiangwang1223/
    neural_graph_collaborative_filtering, ``NGCF/NGCF.py``, ``utility/load_data.py``) settled
    what the paper leaves open. Where the code departs from the paper:

    - Graph and layer: the code's default adjacency (``adj_type=norm``) is D^-1 (A + I), a row
      normalisation with self-loops, used for both messages: side = D^-1 (A + I) E, sum message
      LeakyReLU(side W1 + b1), bi message LeakyReLU((side ⊙ E) W2 + b2), so the self-connection
      enters the bi-interaction term too and each message has its own activation. The paper
      writes L = D^-1/2 A D^-1/2, (L + I) E W1 + (L E ⊙ E) W2 and one LeakyReLU over the sum,
      without biases. Default ``propagation=paper`` follows the paper's graph and layer (as
      RecBole's port does), keeping the code's biases; ``propagation=code`` runs the code's.
    - Node dropout: the paper blocks whole nodes (all outgoing messages of a random set of
      nodes); the code drops individual entries of the normalised adjacency, each with
      probability p, rescales the kept ones by 1 / (1 - p), and draws a new mask at every training
      step (it is fed per ``sess.run``); one mask serves all layers. We follow the code. In the
      ``paper`` layer the entries of L are dropped and the self-connection I is kept; in the
      ``code`` layer the self-loop entries of D^-1 (A + I) can drop too, as in the code.
    - Per-layer normalisation: the code L2-normalises each layer's output E^(1)..E^(L) before
      concatenating (not E^(0)), and propagates the unnormalised output to the next layer. The
      paper does not mention it; we follow the code.
    - Regularisation: the paper penalises lambda ||Theta||^2 over all parameters; the code (and
      we) penalise the batch's final user, positive and negative embeddings, half the squared norm
      divided by the batch size (:func:`~mmbench.models.losses.l2_penalty`), weight ``regs[0]``.
    - LeakyReLU slope 0.2 (TensorFlow's default); the paper does not give it. PyTorch ports that
      call ``F.leaky_relu`` without a slope (LATTICE's NGCF backbone) use 0.01.
    - Initialisation: Xavier uniform for the ID embeddings, the weights and also the biases (a
      [1, d] bias gets bounds of about +-0.3, large next to the embeddings, so the normalised
      layer outputs start out alike for all nodes), as in the code; RecBole zeroes the biases,
      LATTICE's port keeps PyTorch's default. The paper's layer has no biases.
    - Message dropout is ordinary (inverted) dropout on each layer's output, before the
      normalisation, and the dropped output is what the next layer propagates, as in the code;
      evaluation runs without either dropout, as the code's test feeds zero ratios.

    Deliberate differences of ours from both:

    - Every layer has width ``embedding_dim`` (``n_layers`` of them); the code allows one width
      per layer (``--layer_size``), all 64 in the published command.
    - One message dropout ratio for all layers; the code takes one per layer, all 0.1 in the
      published command.
    - Isolated nodes (users or items without training interactions) get zero rows in L instead of
      a division by zero; with the ``paper`` layer they keep their own message through I.
    - The trainer selects on validation recall@20 and tests once; the code's early stopping
      watches test recall@20.
    """

    config_class = NGCFConfig
    needs_features = False
    search_space = {
        # The paper's grids: lr {1e-4, 5e-4, 1e-3, 5e-3}, dropout ratios {0.0, 0.1, ..., 0.8},
        # depth 1..4 (Sec. 4.4.1). Its L2 grid {1e-5, ..., 1e2} acts on all parameters; on the
        # batch's final embeddings, as here, weights above 1e-1 leave the ranking loss no room.
        "lr": FloatParam(1e-4, 5e-3, log=True),
        "reg_weight": FloatParam(1e-5, 1e-1, log=True),
        "node_dropout": FloatParam(0.0, 0.8),
        "mess_dropout": FloatParam(0.0, 0.8),
        "n_layers": IntParam(1, 4),
    }

    def __init__(self, view: TrainView, config: NGCFConfig) -> None:
        super().__init__(view, config)
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)
        if config.propagation == "paper":
            matrix = symmetric_bipartite_adjacency(view.train)
        else:
            matrix = row_normalised_adjacency_with_self_loops(view.train)
        self.graph = _DroppableGraph(matrix)
        self.layers = nn.ModuleList(
            _PropagationLayer(config.embedding_dim, config.propagation) for _ in range(config.n_layers)
        )

    def training_graph(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The graph of one forward pass: with node dropout while training, intact otherwise."""
        return self.graph.pair(self.config.node_dropout if self.training else 0.0)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings: E^(0) and the normalised E^(1)..E^(L), concatenated."""
        graph = self.training_graph()
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        outputs = [embeddings]
        for layer in self.layers:
            embeddings = F.dropout(layer(embeddings, graph), self.config.mess_dropout, self.training)
            outputs.append(F.normalize(embeddings, dim=1))
        final = torch.cat(outputs, dim=1)
        return final[: self.n_users], final[self.n_users :]

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        users_all, items_all = self.propagate()
        parts = regularised_bpr(users_all, items_all, batch, self.config.reg_weight)
        return {"loss": parts["bpr"] + parts["reg"], **parts}
