"""ML runtime: model loading, one generation loop, embeddings, reward heads. Knows no Django model
but ModelSpec-like plain data; everything above (judging, curation, runs) builds on it."""
