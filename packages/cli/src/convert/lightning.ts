/**
 * A Lightning `.ckpt` of the reference (or any torch.save'd state dict) → ConvertedModel. The raw weights are the
 * `state_dict` under `backbone.`; the EMA weights are `ema.shadow_params`, an unnamed list in
 * `backbone.parameters()` order, i.e. the backbone's state-dict order without its buffers (the rotary
 * `inv_freq`). The config comes from `hyper_parameters.config` (the hydra config), else from the caller.
 */
import { configFromReference, type DiTConfig, ditConfig, referenceStateDictShapes } from '@duality/models';
import { ConvertError, UsageError } from '../errors';
import {
  BUFFERS,
  type ConvertedModel,
  findPrefix,
  guessTokenizer,
  inferConfig,
  referenceCard,
  withAlgo,
} from './model';
import { asObject, type Plain, toPlain } from './plain';
import { type DecodedTensor, TorchArchive, TorchTensor } from './torch-archive';

export interface TorchReadOptions {
  /** 'ema' (default for Lightning checkpoints, as the reference samples with EMA) or 'raw'. */
  weights?: 'ema' | 'raw';
  /** A reference config (hydra groups or Hugging Face names) used instead of the checkpoint's. */
  config?: Record<string, unknown>;
  /** Context length, when the config is inferred from the shapes (or to override it). */
  length?: number;
  /** The reference's algo name (mdlm, duo, …): sets parameterization and time conditioning. */
  algo?: string;
  /** Called after each tensor read, with the count read and the count to read. */
  onTensor?: (done: number, total: number) => void;
}

type Named = Array<[string, TorchTensor]>;

/** Maps the EMA list onto the backbone's parameter names, checking count and every shape. */
export function emaByName(ema: unknown, backbone: Named): Map<string, TorchTensor> {
  const shadow = ema instanceof Map ? ema.get('shadow_params') : undefined;
  if (!Array.isArray(shadow))
    throw new ConvertError(
      'convert',
      'a checkpoint without ema.shadow_params',
      'the EMA weights (or --weights raw)',
    );
  const params = backbone.filter(([name]) => !BUFFERS.has(name));
  if (shadow.length < params.length)
    throw new ConvertError(
      'convert',
      `${shadow.length} EMA tensors`,
      `at least the ${params.length} parameters of the backbone (backbone.parameters() order)`,
    );
  const out = new Map<string, TorchTensor>(backbone.filter(([name]) => BUFFERS.has(name)));
  params.forEach(([name, raw], i) => {
    const s = shadow[i];
    const same =
      s instanceof TorchTensor &&
      s.shape.length === raw.shape.length &&
      s.shape.every((d, j) => d === raw.shape[j]);
    if (!same) {
      const got = s instanceof TorchTensor ? `[${s.shape}]` : typeof s;
      throw new ConvertError('convert', `EMA tensor ${i} of shape ${got}`, `[${raw.shape}] like ${name}`);
    }
    out.set(name, s);
  });
  return out;
}

/** The hydra config of `hyper_parameters` with `vocab_size` beside it (TrainerBase.save_hyperparameters()). */
export function referenceFromHyperParameters(hp: Plain | undefined): Record<string, unknown> | undefined {
  const h = asObject(hp);
  if (!h) return undefined;
  const config = asObject(h.config) ?? h;
  if (!asObject(config.model)) return undefined;
  return { ...config, vocab_size: h.vocab_size ?? config.vocab_size };
}

function resolveConfig(
  reference: Record<string, unknown> | undefined,
  shapes: Map<string, readonly number[]>,
  options: TorchReadOptions,
): { config: DiTConfig; reference: Record<string, unknown> } {
  const ref = withAlgo(reference ?? {}, options.algo);
  let config = reference ? configFromReference(ref) : inferConfig(shapes, options.length);
  const tc = asObject(ref.algo as Plain)?.time_conditioning;
  if (!reference && typeof tc === 'boolean') config = ditConfig({ ...config, timeConditioning: tc });
  if (options.length !== undefined) config = ditConfig({ ...config, length: options.length });
  return { config, reference: ref };
}

const stringInfo = (root: Map<unknown, unknown>): Record<string, string> => {
  const info: Record<string, string> = {};
  for (const key of ['global_step', 'epoch', 'pytorch-lightning_version']) {
    const v = root.get(key);
    if (typeof v === 'number' || typeof v === 'string')
      info[key.replace('pytorch-lightning_version', 'lightning_version')] = String(v);
  }
  const ema = root.get('ema');
  if (ema instanceof Map && typeof ema.get('num_updates') === 'number')
    info.ema_updates = String(ema.get('num_updates'));
  return info;
};

/** Reads a torch.save checkpoint (Lightning or a bare state dict) into the DiT's tensors and config. */
export async function readTorchCheckpoint(
  path: string,
  options: TorchReadOptions = {},
): Promise<ConvertedModel> {
  const archive = await TorchArchive.open(path);
  try {
    const root = archive.root;
    if (!(root instanceof Map))
      throw new ConvertError(
        'convert',
        `${path}: a pickled ${typeof root}`,
        'a dict (Lightning checkpoint or state dict)',
      );
    const lightning = root.has('state_dict');
    const stateDict = lightning ? root.get('state_dict') : root;
    if (!(stateDict instanceof Map))
      throw new ConvertError('convert', `${path}: a state_dict that is not a dict`, 'a dict of tensors');
    const all: Named = [];
    for (const [k, v] of stateDict) if (typeof k === 'string' && v instanceof TorchTensor) all.push([k, v]);
    const prefix = findPrefix(
      all.map(([k]) => k),
      path,
    );
    const backbone: Named = all
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v]);
    const weights = options.weights ?? (lightning ? 'ema' : 'raw');
    if (weights === 'ema' && !lightning)
      throw new UsageError(
        'convert',
        `--weights ema for ${path}, a bare state dict`,
        '--weights raw (no EMA in it)',
      );
    const chosen = weights === 'ema' ? emaByName(root.get('ema'), backbone) : new Map(backbone);
    const hp = lightning ? referenceFromHyperParameters(toPlain(root.get('hyper_parameters'))) : undefined;
    const shapes = new Map(backbone.map(([k, v]) => [k, v.shape]));
    const { config, reference } = resolveConfig(options.config ?? hp, shapes, options);
    const needed = new Set(referenceStateDictShapes(config).map(([n]) => n));
    const tensors = new Map<string, DecodedTensor>();
    const todo = [...chosen].filter(([name]) => needed.has(name));
    for (const [name, t] of todo) {
      tensors.set(name, await archive.read(t));
      options.onTensor?.(tensors.size, todo.length);
    }
    const data = asObject(reference.data as Plain);
    return {
      source: lightning ? 'lightning' : 'torch',
      config,
      reference: referenceCard(config, reference),
      tensors,
      ignored: all
        .map(([k]) => k)
        .filter((k) => !k.startsWith(prefix) || !needed.has(k.slice(prefix.length))),
      weights,
      tokenizer: guessTokenizer(data?.tokenizer_name_or_path, config.vocabSize),
      info: stringInfo(root),
    };
  } finally {
    archive.close();
  }
}
