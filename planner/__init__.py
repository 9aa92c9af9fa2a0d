"""gpuplan: plan the cheapest GPU fleet that serves an LLM inference workload within its SLOs."""

__version__ = "0.1.0"
