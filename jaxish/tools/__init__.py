"""Command-line tools: ``python -m jaxish.tools.gpu_check``."""
