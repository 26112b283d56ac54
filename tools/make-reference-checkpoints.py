#!/usr/bin/python3
"""Writes tiny checkpoints in the layouts of the reference code (s-sahoo/duo) for `duality convert` tests.

Run with Debian's python3-torch (and python3-omegaconf for a realistic `hyper_parameters`):

    /usr/bin/python3 tools/make-reference-checkpoints.py packages/cli/test/fixtures
    /usr/bin/python3 tools/make-reference-checkpoints.py /tmp/big --small   # a 1.4 GB `small` one, for timing

Outputs (all small, seeded, byte-for-byte reproducible with the same torch):

  lightning.ckpt   a Lightning checkpoint as `trainer.save_checkpoint` writes it (torch.save zip): `state_dict`
                   with the `backbone.` prefix, `ema.shadow_params` (the raw weights plus noise, so EMA != raw) in
                   `backbone.parameters()` order, `optimizer_states`, `lr_schedulers`, `loops`, `callbacks`,
                   `sampler` (an RNG ByteTensor) and `hyper_parameters` = {config: DictConfig, tokenizer, vocab_size}
                   for a Duo model (time_conditioning True).
  hf/              a Hugging Face export of an MDLM model (time_conditioning False): config.json, the weights
                   sharded into model-0000{1,2}-of-00002.safetensors with model.safetensors.index.json.
  malicious.ckpt   a torch.save zip whose pickle calls os.system when Python unpickles it (never load it in
                   Python); the converter must refuse it without running anything.
  expected.json    inputs (tokens, sigma) and the logits the network gives for each set of weights, float32 and
                   float64.

The network is written here from the maths in shared/fixtures/README.md ("Forward" of dit_parity), not taken from
the reference code; its module tree gives the reference's state-dict names.
"""

import collections
import json
import math
import os
import struct
import sys
import types

import torch
import torch.nn.functional as F

CONFIG = dict(vocab_size=29, hidden_size=24, cond_dim=16, n_heads=2, n_blocks=2, length=10)
FREQ_SIZE = 256
MAX_PERIOD = 10_000
ROTARY_BASE = 10_000
LN_EPS = 1e-5
SEED = 20260601


class Embedding(torch.nn.Module):
  def __init__(self, vocab, dim):
    super().__init__()
    self.embedding = torch.nn.Parameter(torch.empty(vocab, dim))


class WeightNorm(torch.nn.Module):
  """LayerNorm without bias: (x - mean) / sqrt(var + eps) * weight (biased variance)."""

  def __init__(self, dim):
    super().__init__()
    self.weight = torch.nn.Parameter(torch.ones(dim))

  def forward(self, x):
    return F.layer_norm(x, (x.shape[-1],), eps=LN_EPS) * self.weight


class SigmaMap(torch.nn.Module):
  def __init__(self, cond):
    super().__init__()
    self.mlp = torch.nn.Sequential(torch.nn.Linear(FREQ_SIZE, cond), torch.nn.SiLU(), torch.nn.Linear(cond, cond))

  def forward(self, sigma):
    half = FREQ_SIZE // 2
    freqs = torch.exp(-math.log(MAX_PERIOD) * torch.arange(half, dtype=sigma.dtype) / half)
    args = sigma[:, None] * freqs[None, :]
    return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))


class Rotary(torch.nn.Module):
  def __init__(self, head_dim):
    super().__init__()
    inv = 1.0 / (ROTARY_BASE ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    self.register_buffer('inv_freq', inv)

  def tables(self, length, dtype):
    if dtype == torch.float64:  # the ideal maths: exact angles (the fixtures' float64 convention)
      dh = 2 * self.inv_freq.shape[0]
      inv = 1.0 / (ROTARY_BASE ** (torch.arange(0, dh, 2, dtype=torch.float64) / dh))
      ang = torch.outer(torch.arange(length, dtype=torch.float64), inv)
    else:  # f32 inv_freq times f32 positions, like the reference
      ang = torch.outer(torch.arange(length, dtype=torch.float32), self.inv_freq.float())
    return torch.cos(ang), torch.sin(ang)


def rope(x, cos, sin):
  """Non-interleaved halves: x * [cos, cos] + [-x2, x1] * [sin, sin]."""
  half = x.shape[-1] // 2
  x1, x2 = x[..., :half], x[..., half:]
  c = torch.cat([cos, cos], dim=-1)
  s = torch.cat([sin, sin], dim=-1)
  return x * c + torch.cat([-x2, x1], dim=-1) * s


class Block(torch.nn.Module):
  def __init__(self, dim, heads, cond):
    super().__init__()
    self.heads = heads
    self.norm1 = WeightNorm(dim)
    self.attn_qkv = torch.nn.Linear(dim, 3 * dim, bias=False)
    self.attn_out = torch.nn.Linear(dim, dim, bias=False)
    self.norm2 = WeightNorm(dim)
    self.mlp = torch.nn.Sequential(
      torch.nn.Linear(dim, 4 * dim), torch.nn.GELU(approximate='tanh'), torch.nn.Linear(4 * dim, dim))
    self.adaLN_modulation = torch.nn.Linear(cond, 6 * dim)

  def forward(self, h, c, cos, sin):
    B, L, D = h.shape
    H = self.heads
    sh1, sc1, g1, sh2, sc2, g2 = self.adaLN_modulation(c)[:, None, :].chunk(6, dim=-1)
    a = self.norm1(h) * (1 + sc1) + sh1
    qkv = self.attn_qkv(a).view(B, L, 3, H, D // H)  # three outermost, then heads, then Dh
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # [B, H, L, Dh]
    q, k = rope(q, cos, sin), rope(k, cos, sin)
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // H), dim=-1)
    o = (att @ v).transpose(1, 2).reshape(B, L, D)
    h = h + g1 * self.attn_out(o)
    m = self.norm2(h) * (1 + sc2) + sh2
    return h + g2 * self.mlp(m)


class OutputLayer(torch.nn.Module):
  def __init__(self, dim, vocab, cond):
    super().__init__()
    self.norm_final = WeightNorm(dim)
    self.linear = torch.nn.Linear(dim, vocab)
    self.adaLN_modulation = torch.nn.Linear(cond, 2 * dim)

  def forward(self, h, c):
    shift, scale = self.adaLN_modulation(c)[:, None, :].chunk(2, dim=-1)
    return self.linear(self.norm_final(h) * (1 + scale) + shift)


class TinyDiT(torch.nn.Module):
  """Registration order = the reference's state_dict order (vocab_embed, sigma_map, rotary_emb, blocks, output)."""

  def __init__(self, vocab_size, hidden_size, cond_dim, n_heads, n_blocks, length):
    super().__init__()
    self.vocab_embed = Embedding(vocab_size, hidden_size)
    self.sigma_map = SigmaMap(cond_dim)
    self.rotary_emb = Rotary(hidden_size // n_heads)
    self.blocks = torch.nn.ModuleList([Block(hidden_size, n_heads, cond_dim) for _ in range(n_blocks)])
    self.output_layer = OutputLayer(hidden_size, vocab_size, cond_dim)

  def forward(self, tokens, sigma):
    h = self.vocab_embed.embedding[tokens]
    c = F.silu(self.sigma_map(sigma))
    cos, sin = self.rotary_emb.tables(tokens.shape[1], h.dtype)
    for block in self.blocks:
      h = block(h, c, cos, sin)
    return self.output_layer(h, c)


def draw_weights(model, gen):
  """Every parameter ~ N(0, 0.2^2) (adaLN included, unlike a fresh reference model), norms 1 + N(0, 0.2^2)."""
  with torch.no_grad():
    for name, p in model.named_parameters():
      noise = torch.randn(p.shape, generator=gen) * 0.2
      p.copy_(noise + 1 if name.endswith('norm1.weight') or name.endswith('norm2.weight')
              or name.endswith('norm_final.weight') else noise)


def logits_of(model, state, tokens, sigma, dtype):
  m = TinyDiT(**CONFIG)
  m.load_state_dict(state)
  m = m.to(dtype)
  with torch.no_grad():
    return m(tokens, sigma.to(dtype))


def as_json(t):
  return {'shape': list(t.shape), 'data': [float(v) for v in t.reshape(-1).tolist()]}


def hydra_config(time_conditioning, name, parameterization):
  return {
    'mode': 'train',
    'seed': 1,
    'algo': {
      'name': name, 'backbone': 'dit', 'parameterization': parameterization,
      'time_conditioning': time_conditioning, 'T': 0, 'causal_attention': False, 'loss_type': 'elbo',
      'curriculum': {'mode': 'simple', 'gamma_min': -3.5, 'gamma_max': -1.75, 'start': 100, 'end': 200},
    },
    'model': {
      'name': 'tiny-test', 'type': 'ddit', 'hidden_size': CONFIG['hidden_size'], 'cond_dim': CONFIG['cond_dim'],
      'length': CONFIG['length'], 'n_blocks': CONFIG['n_blocks'], 'n_heads': CONFIG['n_heads'],
      'scale_by_sigma': True, 'dropout': 0.1, 'tie_word_embeddings': False,
    },
    'noise': {'type': 'log-linear', 'eps': 1e-3},
    'data': {'train': 'text8', 'valid': 'text8', 'tokenizer_name_or_path': 'text8', 'wrap': True},
    'loader': {'global_batch_size': 512, 'eval_global_batch_size': '${.global_batch_size}'},
    'sampling': {'predictor': 'ancestral', 'steps': 1000, 'noise_removal': 'greedy', 'use_float64': True},
    'training': {'ema': 0.9999, 'sampling_eps': 1e-3},
  }


def tokenizer_stand_in():
  """An object pickled under the reference's tokenizer class name (a plain stand-in, not a tokenizer)."""
  module_name = 'transformers.models.gpt2.tokenization_gpt2_fast'
  parts = module_name.split('.')
  for i in range(1, len(parts)):  # parents first: pickle imports the dotted name to check the class
    sys.modules.setdefault('.'.join(parts[:i]), types.ModuleType('.'.join(parts[:i])))
  module = types.ModuleType(module_name)

  class GPT2TokenizerFast:
    pass

  GPT2TokenizerFast.__module__ = module_name
  GPT2TokenizerFast.__qualname__ = 'GPT2TokenizerFast'
  module.GPT2TokenizerFast = GPT2TokenizerFast
  sys.modules[module_name] = module
  tok = GPT2TokenizerFast()
  tok.name_or_path = 'gpt2'
  tok.model_max_length = 1024
  tok.padding_side = 'right'
  return tok


def lightning_checkpoint(model, ema_params, gen):
  try:
    from omegaconf import OmegaConf
    config = OmegaConf.create(hydra_config(True, 'duo', 'mean'))
  except ImportError:  # without omegaconf the config is a plain dict (the converter reads both)
    config = hydra_config(True, 'duo', 'mean')
  state = collections.OrderedDict(('backbone.' + k, v) for k, v in model.state_dict().items())
  params = list(model.parameters())
  adam = {i: {'step': torch.tensor(1200.0), 'exp_avg': torch.randn(p.shape, generator=gen) * 1e-3,
              'exp_avg_sq': torch.rand(p.shape, generator=gen) * 1e-6} for i, p in enumerate(params)}
  return {
    'epoch': 0,
    'global_step': 1200,
    'pytorch-lightning_version': '2.2.1',
    'state_dict': state,
    'loops': {'fit_loop': {'state_dict': {}, 'epoch_progress': {'total': {'ready': 1, 'completed': 0},
                                                                 'current': {'ready': 1, 'completed': 0}}}},
    'callbacks': {"ModelCheckpoint{'monitor': 'val/nll', 'mode': 'min'}": {
      'monitor': 'val/nll', 'best_model_score': torch.tensor(3.25), 'best_model_path': '/runs/best.ckpt',
      'current_score': torch.tensor(3.5), 'dirpath': '/runs/checkpoints', 'best_k_models': {},
      'kth_best_model_path': '', 'kth_value': torch.tensor(float('inf')), 'last_model_path': ''}},
    'optimizer_states': [{'state': adam, 'param_groups': [{
      'lr': 3e-4, 'betas': (0.9, 0.999), 'eps': 1e-8, 'weight_decay': 0, 'amsgrad': False, 'foreach': None,
      'maximize': False, 'capturable': False, 'differentiable': False, 'fused': None, 'initial_lr': 3e-4,
      'params': list(range(len(params)))}]}],
    'lr_schedulers': [{'base_lrs': [3e-4], 'last_epoch': 1200, '_step_count': 1201, 'verbose': False,
                       '_get_lr_called_within_step': False, '_last_lr': [3e-4], 'lr_lambdas': [None]}],
    'ema': {'decay': 0.9999, 'num_updates': 1200, 'shadow_params': ema_params},
    'sampler': {'random_state': torch.get_rng_state()},
    'hparams_name': 'kwargs',
    'hyper_parameters': {'config': config, 'tokenizer': tokenizer_stand_in(), 'vocab_size': CONFIG['vocab_size']},
  }


def write_safetensors(path, tensors):
  """The safetensors format: u64 LE header length, JSON header padded with spaces to 8 bytes, raw LE data."""
  header, blobs, offset = {}, [], 0
  for name in sorted(tensors):
    data = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
    header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
  header['__metadata__'] = {'format': 'pt'}
  raw = json.dumps(header, separators=(',', ':')).encode()
  raw += b' ' * (-len(raw) % 8)
  with open(path, 'wb') as f:
    f.write(struct.pack('<Q', len(raw)))
    f.write(raw)
    for b in blobs:
      f.write(b)
  return offset


def hf_export(state, folder):
  """An MDLM Hugging Face export: flat config.json, weights under `backbone.` in two shards with an index."""
  os.makedirs(folder, exist_ok=True)
  names = list(state)
  first = set(names[: len(names) // 2])
  shards = {'model-00001-of-00002.safetensors': {}, 'model-00002-of-00002.safetensors': {}}
  weight_map = {}
  for name in names:
    shard = 'model-00001-of-00002.safetensors' if name in first else 'model-00002-of-00002.safetensors'
    shards[shard]['backbone.' + name] = state[name]
    weight_map['backbone.' + name] = shard
  total = sum(write_safetensors(os.path.join(folder, f), t) for f, t in shards.items())
  with open(os.path.join(folder, 'model.safetensors.index.json'), 'w') as f:
    json.dump({'metadata': {'total_size': total}, 'weight_map': dict(sorted(weight_map.items()))}, f, indent=2)
  config = {
    'architectures': ['MDLM'], 'model_type': 'mdlm', 'vocab_size': CONFIG['vocab_size'],
    'model_length': CONFIG['length'], 'hidden_dim': CONFIG['hidden_size'], 'cond_dim': CONFIG['cond_dim'],
    'n_blocks': CONFIG['n_blocks'], 'n_heads': CONFIG['n_heads'], 'dropout': 0.1, 'time_conditioning': False,
    'return_dict': False, 'torch_dtype': 'float32', 'transformers_version': '4.38.2',
  }
  with open(os.path.join(folder, 'config.json'), 'w') as f:
    json.dump(config, f, indent=2)


class RunsACommand:
  """Unpickling this in Python would run os.system: the converter must refuse the GLOBAL before anything."""

  def __reduce__(self):
    return (os.system, ('touch /tmp/duality-convert-must-not-exist',))


def main(out):
  os.makedirs(out, exist_ok=True)
  torch.manual_seed(SEED)
  gen = torch.Generator().manual_seed(SEED)
  raw_model = TinyDiT(**CONFIG)
  draw_weights(raw_model, gen)
  raw = raw_model.state_dict()
  ema_params = [(p.detach() + torch.randn(p.shape, generator=gen) * 0.05).clone() for p in raw_model.parameters()]
  ema = collections.OrderedDict(raw)
  for (name, _), p in zip([(n, p) for n, p in raw_model.named_parameters()], ema_params):
    ema[name] = p
  torch.save(lightning_checkpoint(raw_model, ema_params, gen), os.path.join(out, 'lightning.ckpt'))

  mdlm_model = TinyDiT(**CONFIG)
  draw_weights(mdlm_model, gen)
  hf = mdlm_model.state_dict()
  hf_export(hf, os.path.join(out, 'hf'))

  torch.save({'state_dict': collections.OrderedDict(), 'payload': RunsACommand()}, os.path.join(out, 'malicious.ckpt'))

  B, L, V = 2, CONFIG['length'], CONFIG['vocab_size']
  tokens = torch.randint(0, V, (B, L), generator=gen)
  sigma = torch.tensor([0.3, 1.7], dtype=torch.float64)
  zero = torch.zeros(B, dtype=torch.float64)  # time_conditioning False: the reference's _process_sigma zeroes sigma
  expected = {
    'meta': {'generator': 'tools/make-reference-checkpoints.py', 'seed': SEED, 'torch': torch.__version__},
    'config': CONFIG,
    'inputs': {'tokens': {'shape': [B, L], 'data': tokens.reshape(-1).tolist()},
               'sigma': {'shape': [B], 'data': sigma.tolist()}},
    'parameter_order': [n for n, _ in raw_model.named_parameters()],
    'logits': {},
  }
  for key, state, s in [('lightning_ema', ema, sigma), ('lightning_raw', raw, sigma), ('hf', hf, zero)]:
    expected['logits'][key] = {
      'float32': as_json(logits_of(raw_model, state, tokens, s, torch.float32)),
      'float64': as_json(logits_of(raw_model, state, tokens, s, torch.float64)),
    }
  with open(os.path.join(out, 'expected.json'), 'w') as f:
    json.dump(expected, f)
  print(f'wrote {out}: lightning.ckpt, hf/, malicious.ckpt, expected.json')


def small(out):
  """A Lightning checkpoint at the reference's `small` size (GPT-2 vocabulary + mask, 768 wide, 12 blocks; about
  1.4 GB: state_dict + EMA) for timing `duality convert` on a real-sized file. Not a test fixture."""
  global CONFIG
  CONFIG = dict(vocab_size=50258, hidden_size=768, cond_dim=128, n_heads=12, n_blocks=12, length=1024)
  os.makedirs(out, exist_ok=True)
  gen = torch.Generator().manual_seed(SEED)
  model = TinyDiT(**CONFIG)
  with torch.no_grad():
    for p in model.parameters():
      p.normal_(0, 0.02, generator=gen)
  ema = [(p.detach() + 1e-3).clone() for p in model.parameters()]
  ckpt = {'state_dict': collections.OrderedDict(('backbone.' + k, v) for k, v in model.state_dict().items()),
          'ema': {'decay': 0.9999, 'num_updates': 1, 'shadow_params': ema},
          'hyper_parameters': {'config': hydra_config(True, 'duo', 'mean'), 'vocab_size': CONFIG['vocab_size']},
          'global_step': 1}
  ckpt['hyper_parameters']['config']['model'].update(hidden_size=768, cond_dim=128, length=1024, n_blocks=12, n_heads=12)
  ckpt['hyper_parameters']['config']['data']['tokenizer_name_or_path'] = 'gpt2'
  torch.save(ckpt, os.path.join(out, 'small.ckpt'))
  print(f'wrote {out}/small.ckpt ({sum(p.numel() for p in model.parameters())} parameters)')


if __name__ == '__main__':
  if len(sys.argv) > 2 and sys.argv[2] == '--small':
    small(sys.argv[1])
  else:
    main(sys.argv[1] if len(sys.argv) > 1 else 'packages/cli/test/fixtures')
