"""Graph family: CGMM and the infinite CGMM (Castellana et al., ICML 2022) — seeded graph generators, a TU-format
reader, layer-wise Gibbs-sampled (H)DP mixtures over node states, unigram/bigram graph embeddings and k-fold
classification."""
