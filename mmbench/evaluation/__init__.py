"""The evaluation layer: protocols, the metric registry, and the batched full-ranking evaluator.

Import from the submodules (``mmbench.evaluation.evaluator``, ``.metrics``, ``.protocols``): this
package deliberately re-exports nothing, so that reading protocols or metric names (as the
command line does at start-up) does not import torch.
"""
