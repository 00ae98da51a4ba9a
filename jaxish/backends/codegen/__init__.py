"""Code generation shared by the CPU and (coming) CUDA backends."""
