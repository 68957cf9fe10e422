"""MMSSL (Wei et al., WWW 2023), mmbench's flagship multimodal model.

The model, its discriminator, losses and ablation variants are added here as plugins; see the
project's issue tracker for its state.
"""
