"""mmbench: a benchmark toolkit for multimodal recommenders.

One data layer and one evaluation protocol serve every model; models are plugins registered by
name (see :mod:`mmbench.models`).
"""

__version__ = "0.1.0"
