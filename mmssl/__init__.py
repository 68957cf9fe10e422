"""MMSSL (Wei et al., WWW 2023), mmbench's flagship multimodal model, as two plugins.

- :mod:`mmssl.model`: the model (``mmssl``, the paper's method; ``mmssl-official``, the released
  code's behaviour) and its training step with the critic's own optimiser;
- :mod:`mmssl.config`: hyperparameters, per-dataset presets and the switches between the two;
- :mod:`mmssl.rows`: the relation rows the critic reads, in factored form;
- :mod:`mmssl.discriminator`: the critic and its gradient penalty;
- :mod:`mmssl.generated_graphs`: the modality graphs built from the generated rows;
- :mod:`mmssl.fusion` and :mod:`mmssl.losses`: modality fusion and the self-supervised losses.
"""
