"""Loaders for local Hugging Face checkpoint folders (``config.json`` + ``*.safetensors``). They never download."""

from __future__ import annotations

import json
import os
import pathlib

import jax
import jax.numpy as jnp
from flax import nnx

from tinyjax.errors import ArtifactError, ConfigError, MissingFileError
from tinyjax.scoring.models.gpt2 import GPT2, GPT2Config
from tinyjax.scoring.models.llama import Llama, LlamaConfig

LLAMA_LIKE = ("llama", "mistral")


def _folder(path) -> pathlib.Path:
  p = pathlib.Path(path)
  if not p.is_dir():
    raise MissingFileError(f"{p} is not a local checkpoint folder (tinyjax never downloads from the hub)")
  if not (p / "config.json").exists():
    raise MissingFileError(f"{p} has no config.json")
  return p


def load_config(path: str | os.PathLike) -> dict:
  """The parsed ``config.json`` of a checkpoint folder."""
  return json.loads((_folder(path) / "config.json").read_text())


def load_safetensors(path: str | os.PathLike) -> dict[str, jax.Array]:
  """All tensors of all ``*.safetensors`` files of a folder (sharded checkpoints included), by name."""
  from safetensors.flax import load_file
  files = sorted(_folder(path).glob("*.safetensors"))
  if not files:
    raise MissingFileError(f"{path} has no *.safetensors file (torch .bin checkpoints are not read)")
  tensors: dict[str, jax.Array] = {}
  for f in files:
    tensors.update(load_file(str(f)))
  return tensors


class _Assigner:
  def __init__(self, tensors: dict, strip: tuple[str, ...], dtype):
    self.tensors = {self._strip(k, strip): v for k, v in tensors.items()}
    self.used: set[str] = set()
    self.dtype = dtype

  @staticmethod
  def _strip(name, prefixes):
    for p in prefixes:
      if name.startswith(p):
        return name[len(p):]
    return name

  def __call__(self, var: nnx.Variable, name: str, transpose: bool = False):
    if name not in self.tensors:
      raise ArtifactError(f"the checkpoint has no tensor {name!r}")
    x = self.tensors[name]
    if transpose:
      x = x.T
    if tuple(x.shape) != tuple(var.get_value().shape):
      raise ArtifactError(f"tensor {name!r} has shape {tuple(x.shape)}, the model expects {tuple(var.get_value().shape)}")
    var.set_value(jnp.asarray(x, self.dtype))
    self.used.add(name)


def _abstract(make):
  return nnx.eval_shape(make)


def _check_filled(model):
  for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(model, nnx.Param)):
    if isinstance(leaf, jax.ShapeDtypeStruct):
      raise ArtifactError(f"parameter {jax.tree_util.keystr(path)} was not found in the checkpoint")


def load_gpt2(path: str | os.PathLike, *, dtype=None, param_dtype=jnp.float32) -> GPT2:
  """Builds a :class:`GPT2` from a local HF GPT-2 folder (``GPT2LMHeadModel.save_pretrained`` output).

  Args:
    path: the folder.
    dtype: computation dtype (default: param_dtype).
    param_dtype: dtype the weights are cast to.
  """
  cfg = GPT2Config.from_dict(load_config(path))
  model = _abstract(lambda: GPT2(cfg, dtype=dtype, param_dtype=param_dtype, rngs=nnx.Rngs(0)))
  put = _Assigner(load_safetensors(path), ("transformer.",), param_dtype)
  put(model.wte.embedding, "wte.weight")
  put(model.wpe.embedding, "wpe.weight")
  for i, blk in enumerate(model.h):
    pre = f"h.{i}."
    for ln, name in ((blk.ln_1, "ln_1"), (blk.ln_2, "ln_2")):
      put(ln.scale, pre + name + ".weight")
      put(ln.bias, pre + name + ".bias")
    for lin, name in ((blk.c_attn, "attn.c_attn"), (blk.c_proj, "attn.c_proj"), (blk.c_fc, "mlp.c_fc"),
                      (blk.mlp_proj, "mlp.c_proj")):
      put(lin.kernel, pre + name + ".weight")  # HF Conv1D stores [in, out], as nnx.Linear does
      put(lin.bias, pre + name + ".bias")
  put(model.ln_f.scale, "ln_f.weight")
  put(model.ln_f.bias, "ln_f.bias")
  if model.lm_head is not None:
    put(model.lm_head.kernel, "lm_head.weight", transpose=True)
  _check_filled(model)
  return model


def load_llama(path: str | os.PathLike, *, dtype=None, param_dtype=jnp.float32) -> Llama:
  """Builds a :class:`Llama` from a local HF Llama-family folder (``LlamaForCausalLM.save_pretrained`` output).

  Args:
    path: the folder.
    dtype: computation dtype (default: param_dtype).
    param_dtype: dtype the weights are cast to.
  """
  raw = load_config(path)
  if raw.get("sliding_window") not in (None, 0) and raw.get("use_sliding_window", True) and \
     raw.get("model_type") == "mistral":
    raise ConfigError("sliding-window attention is not supported")
  cfg = LlamaConfig.from_dict(raw)
  model = _abstract(lambda: Llama(cfg, dtype=dtype, param_dtype=param_dtype, rngs=nnx.Rngs(0)))
  put = _Assigner(load_safetensors(path), ("model.",), param_dtype)
  put(model.embed_tokens.embedding, "embed_tokens.weight")
  for i, blk in enumerate(model.layers):
    pre = f"layers.{i}."
    put(blk.input_layernorm.scale, pre + "input_layernorm.weight")
    put(blk.post_attention_layernorm.scale, pre + "post_attention_layernorm.weight")
    for lin, name in ((blk.q_proj, "self_attn.q_proj"), (blk.k_proj, "self_attn.k_proj"),
                      (blk.v_proj, "self_attn.v_proj"), (blk.o_proj, "self_attn.o_proj"),
                      (blk.gate_proj, "mlp.gate_proj"), (blk.up_proj, "mlp.up_proj"),
                      (blk.down_proj, "mlp.down_proj")):
      put(lin.kernel, pre + name + ".weight", transpose=True)  # torch Linear stores [out, in]
      if lin.bias is not None:
        put(lin.bias, pre + name + ".bias")
  put(model.norm.scale, "norm.weight")
  if model.lm_head is not None:
    put(model.lm_head.kernel, "lm_head.weight", transpose=True)
  _check_filled(model)
  return model


def load_model(path: str | os.PathLike, **kwargs) -> GPT2 | Llama:
  """Loads a GPT-2 or Llama-family model from a local HF folder, by ``config.json``'s ``model_type``."""
  kind = load_config(path).get("model_type")
  if kind == "gpt2":
    return load_gpt2(path, **kwargs)
  if kind in LLAMA_LIKE:
    return load_llama(path, **kwargs)
  raise ConfigError(f"model_type {kind!r} is not supported (gpt2, {', '.join(LLAMA_LIKE)} are)")


