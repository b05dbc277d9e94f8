"""Flax NNX ports of GPT-2 and the Llama family, and loaders for local Hugging Face checkpoint folders."""

from tinyjax.scoring.models.gpt2 import GPT2, GPT2Config
from tinyjax.scoring.models.llama import Llama, LlamaConfig
from tinyjax.scoring.models.loading import load_config, load_gpt2, load_llama, load_model, load_safetensors

__all__ = ("GPT2", "GPT2Config", "Llama", "LlamaConfig", "load_config", "load_gpt2", "load_llama", "load_model",
           "load_safetensors")
