"""alignadapt: LoRA fine-tuning of Qwen3-ForcedAligner on your own domain recordings."""

__version__ = "0.1.0"
