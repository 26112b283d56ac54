/**
 * The DiT configuration and the reference's state-dict names (`s-sahoo/duo` `models/dit.py`), so that a
 * checkpoint of the reference maps onto this package's model tensor by tensor.
 */
import { ModelConfigError } from './errors';

export interface DiTConfig {
  /** Vocabulary size V (including the mask token for masked diffusion). */
  vocabSize: number;
  /** Model width D. */
  hiddenSize: number;
  /** Width C of the time conditioning (adaLN input). */
  condDim: number;
  nHeads: number;
  nBlocks: number;
  /** Context length L (longest sequence the model accepts). */
  length: number;
  /** MLP width = mlpRatio · D (4 in the reference). */
  mlpRatio: number;
  /** Causal variant: causal attention, no time conditioning, no adaLN (autoregressive baseline / judge). */
  causal: boolean;
  /** Dropout probability used when a forward pass asks for training mode (the reference's model.dropout). */
  dropout: number;
  /**
   * Whether the network sees sigma (the reference's `algo.time_conditioning`; false for MDLM): when false, sigma
   * is ignored and the time conditioning is computed at sigma = 0, as the reference's `_process_sigma` does.
   */
  timeConditioning: boolean;
}

/** Constants of the architecture the reference fixes (not part of its config). */
export const DIT_CONSTANTS = {
  frequencyEmbeddingSize: 256,
  maxPeriod: 10_000,
  rotaryBase: 10_000,
  layerNormEps: 1e-5,
} as const;

const INT_FIELDS = ['vocabSize', 'hiddenSize', 'condDim', 'nHeads', 'nBlocks', 'length', 'mlpRatio'] as const;

/** Fills defaults and checks that the config describes a buildable network. */
export function ditConfig(
  config: Partial<DiTConfig> & Omit<DiTConfig, 'mlpRatio' | 'causal' | 'dropout' | 'timeConditioning'>,
): DiTConfig {
  const full: DiTConfig = { mlpRatio: 4, causal: false, dropout: 0, timeConditioning: true, ...config };
  for (const key of INT_FIELDS) {
    const v = full[key];
    if (!Number.isSafeInteger(v) || v < 1)
      throw new ModelConfigError('ditConfig', `${key} = ${v}`, 'a positive integer');
  }
  if (full.hiddenSize % full.nHeads !== 0) {
    throw new ModelConfigError(
      'ditConfig',
      `hiddenSize ${full.hiddenSize} with nHeads ${full.nHeads}`,
      'hiddenSize divisible by nHeads',
    );
  }
  if ((full.hiddenSize / full.nHeads) % 2 !== 0) {
    throw new ModelConfigError(
      'ditConfig',
      `head dim ${full.hiddenSize / full.nHeads}`,
      'an even head dim (rotary halves)',
    );
  }
  if (!(full.dropout >= 0 && full.dropout < 1))
    throw new ModelConfigError('ditConfig', `dropout ${full.dropout}`, 'a value in [0, 1)');
  checkSizes(full);
  return full;
}

/** Most elements of one tensor (one JS typed array; WebGPU bindings are smaller still). */
const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Most parameters of a whole model (16 GiB of f32): far above any DiT this library trains or loads. */
const MAX_PARAMETERS = 2 ** 32;

const elementsOf = (config: DiTConfig): number =>
  referenceStateDictShapes(config).reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);

/**
 * Every weight, and one row of activations [L, 4·D], must fit one typed array, and the whole model
 * MAX_PARAMETERS: refused here, not as a RangeError or an exhausted heap. The total is counted from a 1- and a
 * 2-block model (the blocks are alike), so an absurd nBlocks never lists its tensors.
 */
function checkSizes(config: DiTConfig): void {
  const one = elementsOf({ ...config, nBlocks: 1 });
  const total = one + (elementsOf({ ...config, nBlocks: 2 }) - one) * (config.nBlocks - 1);
  if (!(total <= MAX_PARAMETERS))
    throw new ModelConfigError(
      'ditConfig',
      `${total} parameters (nBlocks ${config.nBlocks})`,
      `at most ${MAX_PARAMETERS}`,
    );
  const sizes: Array<[string, number]> = referenceStateDictShapes(config).map(([name, shape]) => [
    name,
    shape.reduce((a, b) => a * b, 1),
  ]);
  sizes.push(['activations [L, mlpRatio·D]', config.length * config.mlpRatio * config.hiddenSize]);
  for (const [name, n] of sizes) {
    if (!(n <= MAX_TENSOR_ELEMENTS)) {
      throw new ModelConfigError(
        'ditConfig',
        `${name} of ${n} elements`,
        `at most ${MAX_TENSOR_ELEMENTS} (one typed array)`,
      );
    }
  }
}

/** The reference's `small` model (configs/model/small.yaml) with GPT-2's vocabulary. */
export const SMALL_CONFIG: DiTConfig = ditConfig({
  vocabSize: 50257,
  hiddenSize: 768,
  condDim: 128,
  nHeads: 12,
  nBlocks: 12,
  length: 1024,
});

/** A character-level config (brown8, K = 27) sized for CPU training and benchmarks. */
export const TINY_CONFIG: DiTConfig = ditConfig({
  vocabSize: 27,
  hiddenSize: 256,
  condDim: 128,
  nHeads: 8,
  nBlocks: 8,
  length: 256,
});

const pick = (obj: Record<string, unknown>, ...keys: string[]): unknown => {
  for (const k of keys) if (obj[k] !== undefined) return obj[k];
  return undefined;
};

const asRecord = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * Reads a model config as the reference writes it: the hydra `model` group (hidden_size, cond_dim, length,
 * n_blocks, n_heads, dropout) on its own or nested as `{model: …, algo: {causal_attention}}` (the
 * PyTorchModelHubMixin `config.json` nests it once more under `config`), or the Hugging Face export's flat
 * names (hidden_dim, model_length). The vocabulary comes from `vocab_size` or the `vocabSize` argument;
 * `time_conditioning` from the `algo` group or the flat Hugging Face config (default true).
 */
export function configFromReference(json: unknown, vocabSize?: number): DiTConfig {
  const root = asRecord(json);
  if (!root) throw new ModelConfigError('configFromReference', typeof json, 'a config object');
  const outer = asRecord(root.config) ?? root;
  const model = asRecord(outer.model) ?? outer;
  const algo = asRecord(outer.algo) ?? {};
  const vocab =
    vocabSize ?? pick(root, 'vocab_size') ?? pick(outer, 'vocab_size') ?? pick(model, 'vocab_size');
  const fields = {
    vocabSize: vocab,
    hiddenSize: pick(model, 'hidden_size', 'hidden_dim'),
    condDim: pick(model, 'cond_dim'),
    nHeads: pick(model, 'n_heads'),
    nBlocks: pick(model, 'n_blocks'),
    length: pick(model, 'length', 'model_length'),
  };
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== 'number') {
      throw new ModelConfigError(
        'configFromReference',
        `${key} = ${JSON.stringify(value)}`,
        'a number in the reference config',
      );
    }
  }
  const dropout = pick(model, 'dropout');
  const causal = pick(algo, 'causal_attention') ?? pick(model, 'causal', 'causal_attention');
  const timeConditioning = pick(algo, 'time_conditioning') ?? pick(model, 'time_conditioning');
  if (timeConditioning !== undefined && typeof timeConditioning !== 'boolean')
    throw new ModelConfigError(
      'configFromReference',
      `time_conditioning = ${JSON.stringify(timeConditioning)}`,
      'true or false',
    );
  return ditConfig({
    ...(fields as Record<keyof typeof fields, number>),
    dropout: typeof dropout === 'number' ? dropout : 0,
    causal: causal === true,
    timeConditioning: timeConditioning !== false,
  });
}

/** The reference's names for this config (model config → hydra `model` group + vocab_size). */
export function configToReference(config: DiTConfig): Record<string, unknown> {
  return {
    vocab_size: config.vocabSize,
    model: {
      hidden_size: config.hiddenSize,
      cond_dim: config.condDim,
      length: config.length,
      n_blocks: config.nBlocks,
      n_heads: config.nHeads,
      dropout: config.dropout,
    },
    algo: { causal_attention: config.causal, time_conditioning: config.timeConditioning },
  };
}

/** Every tensor of the reference's `DIT.state_dict()` for this config, in its order, with its shape. */
export function referenceStateDictShapes(config: DiTConfig): Array<[string, number[]]> {
  const { vocabSize: V, hiddenSize: D, condDim: C, nHeads: H, nBlocks, mlpRatio, causal } = config;
  const F = DIT_CONSTANTS.frequencyEmbeddingSize;
  const M = mlpRatio * D;
  const out: Array<[string, number[]]> = [['vocab_embed.embedding', [V, D]]];
  if (!causal) {
    out.push(['sigma_map.mlp.0.weight', [C, F]], ['sigma_map.mlp.0.bias', [C]]);
    out.push(['sigma_map.mlp.2.weight', [C, C]], ['sigma_map.mlp.2.bias', [C]]);
  }
  out.push(['rotary_emb.inv_freq', [D / H / 2]]);
  for (let i = 0; i < nBlocks; i++) {
    const p = `blocks.${i}.`;
    out.push([`${p}norm1.weight`, [D]], [`${p}attn_qkv.weight`, [3 * D, D]], [`${p}attn_out.weight`, [D, D]]);
    out.push([`${p}norm2.weight`, [D]], [`${p}mlp.0.weight`, [M, D]], [`${p}mlp.0.bias`, [M]]);
    out.push([`${p}mlp.2.weight`, [D, M]], [`${p}mlp.2.bias`, [D]]);
    if (!causal)
      out.push([`${p}adaLN_modulation.weight`, [6 * D, C]], [`${p}adaLN_modulation.bias`, [6 * D]]);
  }
  out.push(
    ['output_layer.norm_final.weight', [D]],
    ['output_layer.linear.weight', [V, D]],
    ['output_layer.linear.bias', [V]],
  );
  if (!causal)
    out.push(
      ['output_layer.adaLN_modulation.weight', [2 * D, C]],
      ['output_layer.adaLN_modulation.bias', [2 * D]],
    );
  return out;
}

/** Number of parameters (rotary buffer excluded). */
export function parameterCount(config: DiTConfig): number {
  return referenceStateDictShapes(config)
    .filter(([name]) => name !== 'rotary_emb.inv_freq')
    .reduce((n, [, shape]) => n + shape.reduce((a, b) => a * b, 1), 0);
}
