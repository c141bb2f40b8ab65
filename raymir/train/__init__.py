"""Training: the Ray Train wiring every job shares (``job``) and one training loop per paper —
``choi`` (tagging pretraining), ``kim`` (soft multi-task targets), ``park`` (artist labels, basic or
Siamese) — with the crop loader (``crops``) and triplet sampling (``siamese``) they use."""
