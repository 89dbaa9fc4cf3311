"""JAX code the chapters share (float64): HUANet (chapter 7) and a batched vanilla ADMM baseline."""
