"""scigenbench.training: text QA data → verified, figure-grounded training data.

Synthesis (construction stages, generation, verification, the ``SYN_DIR`` format), exports for VeRL, TRL,
LLaMA-Factory and EasyR1, reward functions and training recipes. Layer order:
``dataset ← generators ← metrics ← training ← scripts, app``.
"""
