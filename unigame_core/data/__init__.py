"""Training data: image decoding, VQA datasets, batching."""
