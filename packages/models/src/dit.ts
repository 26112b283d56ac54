/**
 * The diffusion transformer (DiT) of MDLM/Duo (`s-sahoo/duo` models/dit.py), and its causal variant, written
 * layer by layer on the `@duality/kernels` Backend ops. Linear weights keep torch's [out, in] layout
 * (y = x Wᵀ + b → `matmul(x, W, { transposeB: true, bias })`).
 *
 *   h = E[x] | Σ_k w_k E[i_k] | softmax(z) E                        input embedding (tokens | top-k soft | dense)
 *   c = silu(MLP(timestep_features(sigma)))                           time conditioning, sigma = −log alpha_t
 *   per block:  (sh1, sc1, g1, sh2, sc2, g2) = adaLN(c)
 *               h += g1 · W_out attn(rope(q), rope(k), v)(LN(h)(1 + sc1) + sh1)
 *               h += g2 · MLP_gelu_tanh(LN(h)(1 + sc2) + sh2)
 *   logits = W_lin (LN(h)(1 + sc) + sh) + b_lin,  (sh, sc) = adaLN_final(c)
 *
 * The causal variant drops c and every adaLN term (gates 1, no modulation) and masks attention to the past.
 */
import {
  ArgumentError,
  type Backend,
  type CpuBackend,
  DTypeError,
  type FloatDType,
  ShapeError,
  type Tensor,
} from '@duality/kernels';
import { mergeHeads, splitHeadsRotary } from './attention-ops';
import { DIT_CONSTANTS, type DiTConfig, referenceStateDictShapes } from './config';
import { gatedResidual, geluTanhInPlace, layerNormModulate, softmaxRowsInPlace } from './cpu-fast';
import {
  MissingTensorError,
  ModelConfigError,
  SequenceTooLongError,
  TensorShapeMismatchError,
  TokenOutOfVocabularyError,
} from './errors';
import type { StoredTensor } from './safetensors';

/** What the network reads: token ids, top-k soft tokens (curriculum), or full-vocabulary logits (dense). */
export type DiTInput =
  | { tokens: Tensor }
  | { soft: { indices: Tensor; weights: Tensor } }
  | { dense: Tensor };

/** Per batch row sigma = −log alpha_t (a Tensor [B] or numbers). Ignored by the causal variant and when
 * `config.timeConditioning` is false (then the conditioning is that of sigma = 0, as in the reference). */
export type SigmaInput = Tensor | ArrayLike<number>;

export interface ForwardOptions {
  /** Training mode: dropout with probability `config.dropout` (or `p`), masks drawn from this random stream. */
  train?: { seed: number | bigint; offset?: number; p?: number };
  /** Filled with host copies of intermediates: embed, t_cond, block.{i} (for parity tests and debugging). */
  intermediates?: Map<string, Float32Array | Float64Array>;
}

/** Gives the stored tensor of a reference state-dict name (or undefined when absent). */
export type TensorLookup = (name: string) => Promise<StoredTensor | undefined>;

interface Linear {
  weight: Tensor;
  bias?: Tensor;
}

interface Block {
  norm1: Tensor;
  attnQkv: Tensor;
  attnOut: Tensor;
  norm2: Tensor;
  mlpIn: Linear;
  mlpOut: Linear;
  /** shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp (each [D, C] and [D]); absent if causal. */
  adaLN?: Linear[];
}

interface Weights {
  embedding: Tensor;
  sigmaMap?: { inner: Linear; outer: Linear };
  blocks: Block[];
  finalNorm: Tensor;
  head: Linear;
  /** shift, scale of the final layer; absent if causal. */
  finalAdaLN?: Linear[];
}

/** Tracks the temporaries of one layer so they are freed together. */
class Scope {
  private readonly owned: Tensor[] = [];
  own<T extends Tensor>(t: T): T {
    this.owned.push(t);
    return t;
  }
  /** Disposes every owned tensor except `keep`. */
  release(...keep: Tensor[]): void {
    for (const t of this.owned) if (!keep.includes(t) && !t.disposed) t.dispose();
    this.owned.length = 0;
  }
}

/** Sinusoidal features of sigma: [cos(sigma f_j), sin(sigma f_j)], f_j = maxPeriod^(−j/half) (DiT, GLIDE). */
export function timestepFeatures(
  sigma: ArrayLike<number>,
  size: number = DIT_CONSTANTS.frequencyEmbeddingSize,
): Float64Array {
  const half = size / 2;
  const out = new Float64Array(sigma.length * size);
  for (let b = 0; b < sigma.length; b++) {
    for (let j = 0; j < half; j++) {
      const arg = sigma[b] * Math.exp((-Math.log(DIT_CONSTANTS.maxPeriod) * j) / half);
      out[b * size + j] = Math.cos(arg);
      out[b * size + half + j] = Math.sin(arg);
    }
  }
  return out;
}

/** Rotary inverse frequencies 1/base^(2j/Dh), j < Dh/2 (RoFormer). */
export function rotaryInvFreq(headDim: number): Float64Array {
  return Float64Array.from(
    { length: headDim / 2 },
    (_, j) => 1 / DIT_CONSTANTS.rotaryBase ** ((2 * j) / headDim),
  );
}

/**
 * cos/sin tables [L, Dh/2] of angle(t, j) = t · inv_j. f64 uses the exact angle; f32 rounds the angle like the
 * reference does (f32 inv_freq times f32 position), so an f32 model sees the angles its checkpoint was trained with.
 */
export function rotaryTables(
  length: number,
  invFreq: ArrayLike<number>,
  dtype: FloatDType,
): { cos: Float64Array; sin: Float64Array } {
  const half = invFreq.length;
  const cos = new Float64Array(length * half);
  const sin = new Float64Array(length * half);
  for (let t = 0; t < length; t++) {
    for (let j = 0; j < half; j++) {
      const angle = dtype === 'f64' ? t * invFreq[j] : Math.fround(t * Math.fround(invFreq[j]));
      cos[t * half + j] = Math.cos(angle);
      sin[t * half + j] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export class DiT {
  readonly config: DiTConfig;
  readonly backend: Backend;
  readonly dtype: FloatDType;
  private readonly weights: Weights;
  /** The rotary buffer as the checkpoint stored it (written back unchanged). */
  private readonly invFreqStored: Float32Array;
  private readonly rotaryCache = new Map<number, { cos: Tensor; sin: Tensor }>();
  private readonly causalMaskCache = new Map<number, Tensor>();
  private disposed = false;

  private constructor(
    backend: Backend,
    config: DiTConfig,
    dtype: FloatDType,
    weights: Weights,
    invFreq: Float32Array,
  ) {
    this.backend = backend;
    this.config = config;
    this.dtype = dtype;
    this.weights = weights;
    this.invFreqStored = invFreq;
  }

  get headDim(): number {
    return this.config.hiddenSize / this.config.nHeads;
  }

  /**
   * Builds the model from reference state-dict tensors (names of `DIT.state_dict()`); every tensor is checked
   * against the shape the config implies. `lookup` can read lazily from a file, one tensor at a time.
   */
  static async fromStateDict(
    backend: Backend,
    config: DiTConfig,
    lookup: TensorLookup | Map<string, StoredTensor>,
    options: { dtype?: FloatDType; adopt?: boolean } = {},
  ): Promise<DiT> {
    const dtype = options.dtype ?? 'f32';
    /** On cpu with `adopt`, arrays of the model's dtype become tensors without a copy (the model owns them). */
    const adopt = options.adopt === true && backend.name === 'cpu';
    if (dtype === 'f64' && !backend.supportsF64)
      throw new DTypeError('DiT.fromStateDict', 'f64', `f32 on the ${backend.name} backend`);
    const get = lookup instanceof Map ? async (n: string) => lookup.get(n) : lookup;
    const expected = new Map(referenceStateDictShapes(config));
    const uploaded: Tensor[] = [];
    const load = async (name: string, rows?: [number, number]): Promise<Tensor> => {
      const stored = await get(name);
      if (!stored)
        throw new MissingTensorError(
          'DiT.fromStateDict',
          `no tensor "${name}"`,
          `a tensor of shape [${(expected.get(name) ?? []).join(', ')}]`,
        );
      const want = expected.get(name) as number[];
      if (stored.shape.length !== want.length || stored.shape.some((d, i) => d !== want[i])) {
        throw new TensorShapeMismatchError(
          'DiT.fromStateDict',
          `"${name}" of shape [${stored.shape.join(', ')}]`,
          `[${want.join(', ')}]`,
        );
      }
      let data: ArrayLike<number> = stored.data;
      let shape = want;
      if (rows) {
        const width = want.length === 2 ? want[1] : 1;
        data = stored.data.subarray(rows[0] * width, rows[1] * width);
        shape = want.length === 2 ? [rows[1] - rows[0], width] : [rows[1] - rows[0]];
      }
      const sameType = dtype === 'f64' ? data instanceof Float64Array : data instanceof Float32Array;
      const t =
        adopt && sameType
          ? (backend as CpuBackend).fromArray(data as Float32Array, shape)
          : backend.tensor(data, shape, dtype);
      uploaded.push(t);
      return t;
    };
    const linear = async (prefix: string, bias = true): Promise<Linear> => ({
      weight: await load(`${prefix}.weight`),
      bias: bias ? await load(`${prefix}.bias`) : undefined,
    });
    /** Splits an adaLN projection [n·D, C] into n chunks of D rows (the reference's `.chunk(n)`). */
    const chunks = async (prefix: string, n: number): Promise<Linear[]> => {
      const D = config.hiddenSize;
      const out: Linear[] = [];
      for (let i = 0; i < n; i++) {
        const rows: [number, number] = [i * D, (i + 1) * D];
        out.push({ weight: await load(`${prefix}.weight`, rows), bias: await load(`${prefix}.bias`, rows) });
      }
      return out;
    };
    try {
      const invFreq = await checkedInvFreq(get, config);
      const weights: Weights = {
        embedding: await load('vocab_embed.embedding'),
        sigmaMap: config.causal
          ? undefined
          : { inner: await linear('sigma_map.mlp.0'), outer: await linear('sigma_map.mlp.2') },
        blocks: [],
        finalNorm: await load('output_layer.norm_final.weight'),
        head: await linear('output_layer.linear'),
        finalAdaLN: config.causal ? undefined : await chunks('output_layer.adaLN_modulation', 2),
      };
      for (let i = 0; i < config.nBlocks; i++) {
        const p = `blocks.${i}`;
        weights.blocks.push({
          norm1: await load(`${p}.norm1.weight`),
          attnQkv: await load(`${p}.attn_qkv.weight`),
          attnOut: await load(`${p}.attn_out.weight`),
          norm2: await load(`${p}.norm2.weight`),
          mlpIn: await linear(`${p}.mlp.0`),
          mlpOut: await linear(`${p}.mlp.2`),
          adaLN: config.causal ? undefined : await chunks(`${p}.adaLN_modulation`, 6),
        });
      }
      return new DiT(backend, config, dtype, weights, invFreq);
    } catch (error) {
      for (const t of uploaded) t.dispose();
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------------- forward

  /** Logits [B, L, V] for the input (and per-row sigma unless causal). */
  async forward(input: DiTInput, sigma?: SigmaInput, options: ForwardOptions = {}): Promise<Tensor> {
    if (this.disposed) throw new ArgumentError('DiT.forward', 'a disposed model', 'a live model');
    const scope = new Scope();
    try {
      const h0 = scope.own(await this.embed(input));
      const [B, L] = h0.shape;
      const c = this.config.causal ? undefined : scope.own(await this.timeCondition(sigma, B));
      await capture(options, 'embed', h0);
      if (c) await capture(options, 't_cond', c);
      let h = h0;
      for (let i = 0; i < this.config.nBlocks; i++) {
        h = scope.own(this.block(this.weights.blocks[i], h, c, L, i, options));
        await capture(options, `block.${i}`, h);
      }
      return this.finalLayer(h, c);
    } finally {
      scope.release();
    }
  }

  /** Input embedding: E[tokens], Σ_k w_k E[i_k] (embedding bag), or softmax(logits) @ E (dense soft input). */
  private async embed(input: DiTInput): Promise<Tensor> {
    const b = this.backend;
    const E = this.weights.embedding;
    const V = this.config.vocabSize;
    if ('tokens' in input) {
      const ids = input.tokens;
      await this.checkIds('DiT.forward(tokens)', ids, 2);
      return b.embedding(E, ids);
    }
    if ('soft' in input) {
      const { indices, weights } = input.soft;
      await this.checkIds('DiT.forward(soft.indices)', indices, 3);
      if (weights.shape.length !== 3 || weights.shape.some((d, i) => d !== indices.shape[i])) {
        throw new ShapeError(
          'DiT.forward(soft.weights)',
          `[${weights.shape}]`,
          `[${indices.shape}] like the indices`,
        );
      }
      return b.embeddingBag(E, indices, this.ensureDtype(weights));
    }
    const logits = input.dense;
    if (logits.shape.length !== 3 || logits.shape[2] !== V) {
      throw new ShapeError('DiT.forward(dense)', `logits [${logits.shape}]`, `[B, L, ${V}]`);
    }
    this.checkLength('DiT.forward(dense)', logits.shape[1]);
    const probs = b.softmax(this.ensureDtype(logits));
    try {
      return b.matmul(probs, E);
    } finally {
      probs.dispose();
    }
  }

  /** c = silu(W2 silu(W1 tf + b1) + b2): the reference's `silu(sigma_map(sigma))`. */
  private async timeCondition(sigma: SigmaInput | undefined, batch: number): Promise<Tensor> {
    if (!this.config.timeConditioning) return this.timeConditionAt(new Float64Array(batch)); // σ ignored: c(0)
    if (sigma === undefined)
      throw new ArgumentError('DiT.forward', 'no sigma', `sigma for each of the ${batch} rows`);
    const values = isTensor(sigma) ? await sigma.read() : sigma;
    if (values.length !== batch)
      throw new ShapeError('DiT.forward(sigma)', `${values.length} values`, `${batch} (one per row)`);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]))
        throw new ArgumentError('DiT.forward(sigma)', `sigma[${i}] = ${values[i]}`, 'a finite number');
    }
    return this.timeConditionAt(values);
  }

  private timeConditionAt(values: ArrayLike<number>): Tensor {
    const batch = values.length;
    const b = this.backend;
    const { inner, outer } = this.weights.sigmaMap as { inner: Linear; outer: Linear };
    const scope = new Scope();
    try {
      const tf = scope.own(
        b.tensor(timestepFeatures(values), [batch, DIT_CONSTANTS.frequencyEmbeddingSize], this.dtype),
      );
      const hidden = scope.own(b.silu(scope.own(this.linear(tf, inner))));
      const out = b.silu(scope.own(this.linear(hidden, outer)));
      return out;
    } finally {
      scope.release();
    }
  }

  /** One transformer block (adaLN-modulated unless causal). */
  private block(
    w: Block,
    h: Tensor,
    c: Tensor | undefined,
    L: number,
    index: number,
    options: ForwardOptions,
  ): Tensor {
    const b = this.backend;
    const s = new Scope();
    try {
      const [B] = h.shape;
      const mod =
        w.adaLN && c
          ? w.adaLN.map((l) => s.own(b.reshape(s.own(this.linear(c, l)), [B, 1, this.config.hiddenSize])))
          : undefined;
      // attention branch: h1 = h + g1 · attn(LN(h)(1 + sc1) + sh1)
      const a = s.own(this.normModulate(h, w.norm1, mod?.[0], mod?.[1], s));
      const attn = s.own(this.dropout(s.own(this.attention(w, a, L, s)), 2 * index, options));
      const h1 = s.own(this.residual(h, attn, mod?.[2], s));
      // MLP branch: h2 = h1 + g2 · MLP(LN(h1)(1 + sc2) + sh2)
      const m = s.own(this.normModulate(h1, w.norm2, mod?.[3], mod?.[4], s));
      const inner = s.own(this.geluTanh(s.own(this.linear(m, w.mlpIn))));
      const mlp = s.own(this.dropout(s.own(this.linear(inner, w.mlpOut)), 2 * index + 1, options));
      const out = this.residual(h1, mlp, mod?.[5], s);
      return out;
    } finally {
      s.release();
    }
  }

  /** Multi-head self-attention with rotary q, k: softmax(q kᵀ/√Dh [+ causal mask]) v, then W_out. */
  private attention(w: Block, a: Tensor, L: number, s: Scope): Tensor {
    const b = this.backend;
    const qkv = s.own(b.matmul(a, w.attnQkv, { transposeB: true }));
    const { cos, sin } = this.rotary(L);
    const { q, k, v } = splitHeadsRotary(b, qkv, cos, sin, this.config.nHeads, 1 / Math.sqrt(this.headDim));
    s.own(q);
    s.own(k);
    s.own(v);
    let scores = s.own(b.matmul(q, k, { transposeB: true }));
    if (this.config.causal) scores = s.own(b.add(scores, this.causalMask(L)));
    const probs = this.softmaxOwned(scores, s);
    const o = s.own(mergeHeads(b, s.own(b.matmul(probs, v))));
    return b.matmul(o, w.attnOut, { transposeB: true });
  }

  /** Final layer: logits = W_lin (LN(h)(1 + sc) + sh)ᵀ + b_lin (no modulation if causal). */
  private finalLayer(h: Tensor, c: Tensor | undefined): Tensor {
    const b = this.backend;
    const s = new Scope();
    try {
      const ada = this.weights.finalAdaLN;
      const [B] = h.shape;
      const [shift, scale] =
        ada && c
          ? ada.map((l) => s.own(b.reshape(s.own(this.linear(c, l)), [B, 1, this.config.hiddenSize])))
          : [];
      const x = s.own(this.normModulate(h, this.weights.finalNorm, shift, scale, s));
      return this.linear(x, this.weights.head);
    } finally {
      s.release();
    }
  }

  /** f32 on cpu: fused in-place fast paths on tensors this model just created (see cpu-fast.ts). */
  private get cpuFast(): CpuBackend | undefined {
    return this.backend.name === 'cpu' && this.dtype === 'f32' ? (this.backend as CpuBackend) : undefined;
  }

  /** Softmax of a scores tensor this forward owns (in place on the cpu fast path). */
  private softmaxOwned(scores: Tensor, s: Scope): Tensor {
    const cpu = this.cpuFast;
    if (!cpu) return s.own(this.backend.softmax(scores));
    softmaxRowsInPlace(cpu, scores);
    return scores;
  }

  /** GELU-tanh of a tensor this forward owns (in place on the cpu fast path). */
  private geluTanh(x: Tensor): Tensor {
    const cpu = this.cpuFast;
    if (!cpu) return this.backend.geluTanh(x);
    geluTanhInPlace(cpu, x);
    return x;
  }

  /** LN(x)·w (1 + scale) + shift: weight-only LayerNorm, then the adaLN modulation (DiT) when given. */
  private normModulate(
    x: Tensor,
    weight: Tensor,
    shift: Tensor | undefined,
    scale: Tensor | undefined,
    s: Scope,
  ): Tensor {
    const eps = DIT_CONSTANTS.layerNormEps;
    const cpu = this.cpuFast;
    if (cpu) return layerNormModulate(cpu, x, weight, eps, shift, scale);
    const b = this.backend;
    const normed = b.layerNorm(x, weight, eps);
    if (!shift || !scale) return normed;
    s.own(normed);
    return b.add(s.own(b.mul(normed, s.own(b.scale(scale, 1, 1)))), shift);
  }

  /** h + gate · x (gate per batch row; absent in the causal variant: h + x). */
  private residual(h: Tensor, x: Tensor, gate: Tensor | undefined, s: Scope): Tensor {
    const cpu = this.cpuFast;
    if (cpu) return gatedResidual(cpu, h, x, gate);
    return this.backend.add(h, gate ? s.own(this.backend.mul(gate, x)) : x);
  }

  private linear(x: Tensor, l: Linear): Tensor {
    return this.backend.matmul(x, l.weight, { transposeB: true, bias: l.bias });
  }

  /** Inverted dropout: zero with probability p, scale the rest by 1/(1 − p); identity outside training. */
  private dropout(x: Tensor, site: number, options: ForwardOptions): Tensor {
    const train = options.train;
    const p = train?.p ?? this.config.dropout;
    if (!train || p === 0) return x;
    if (!(p > 0 && p < 1))
      throw new ArgumentError('DiT.forward(train.p)', String(p), 'a probability in [0, 1)');
    const b = this.backend;
    const s = new Scope();
    try {
      const u = s.own(
        b.uniform(x.shape, { seed: train.seed, offset: (train.offset ?? 0) + site * x.size }, this.dtype),
      );
      const keep = s.own(b.compare(u, s.own(b.full([1], p, this.dtype)), 'ge'));
      return b.where(keep, s.own(b.scale(x, 1 / (1 - p))), s.own(b.zeros([1], this.dtype)));
    } finally {
      s.release();
    }
  }

  private rotary(L: number): { cos: Tensor; sin: Tensor } {
    let entry = this.rotaryCache.get(L);
    if (!entry) {
      const inv = this.dtype === 'f64' ? rotaryInvFreq(this.headDim) : this.invFreqStored;
      const { cos, sin } = rotaryTables(L, inv, this.dtype);
      const shape = [L, this.headDim / 2];
      entry = {
        cos: this.backend.tensor(cos, shape, this.dtype),
        sin: this.backend.tensor(sin, shape, this.dtype),
      };
      this.rotaryCache.set(L, entry);
    }
    return entry;
  }

  /** [L, L] additive mask: 0 on and below the diagonal, −∞ above (causal attention). */
  private causalMask(L: number): Tensor {
    let mask = this.causalMaskCache.get(L);
    if (!mask) {
      const data = new Float64Array(L * L);
      for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) data[i * L + j] = Number.NEGATIVE_INFINITY;
      mask = this.backend.tensor(data, [L, L], this.dtype);
      this.causalMaskCache.set(L, mask);
    }
    return mask;
  }

  private ensureDtype(t: Tensor): Tensor {
    if (t.dtype !== this.dtype)
      throw new DTypeError('DiT.forward', `${t.dtype} input`, `${this.dtype} like the model`);
    return t;
  }

  private checkLength(op: string, length: number): void {
    if (length > this.config.length) {
      throw new SequenceTooLongError(
        op,
        `sequence length ${length}`,
        `at most the context length ${this.config.length}`,
      );
    }
  }

  /** Token ids must be i32 of the given rank, inside [0, V), and no longer than the context. */
  private async checkIds(op: string, ids: Tensor, rank: number): Promise<void> {
    if (ids.dtype !== 'i32') throw new DTypeError(op, ids.dtype, 'i32');
    if (ids.shape.length !== rank)
      throw new ShapeError(op, `[${ids.shape}]`, rank === 2 ? '[B, L]' : '[B, L, k]');
    this.checkLength(op, ids.shape[1]);
    const data = await ids.read();
    const V = this.config.vocabSize;
    for (let i = 0; i < data.length; i++) {
      if (data[i] < 0 || data[i] >= V) {
        throw new TokenOutOfVocabularyError(op, `id ${data[i]} at flat index ${i}`, `an id in [0, ${V})`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------- export

  /** The reference's state dict (names, shapes, order), values as the model holds them. */
  async stateDict(): Promise<Map<string, StoredTensor>> {
    const w = this.weights;
    const dtype = this.dtype === 'f64' ? 'F64' : 'F32';
    const out = new Map<string, StoredTensor>();
    const put = async (name: string, ...parts: Tensor[]) => {
      const arrays = await Promise.all(parts.map((t) => t.read() as Promise<Float32Array | Float64Array>));
      const total = arrays.reduce((n, a) => n + a.length, 0);
      const data = this.dtype === 'f64' ? new Float64Array(total) : new Float32Array(total);
      let offset = 0;
      for (const a of arrays) {
        data.set(a, offset);
        offset += a.length;
      }
      out.set(name, { dtype, shape: shapes.get(name) as number[], data });
    };
    const shapes = new Map(referenceStateDictShapes(this.config));
    const linear = async (prefix: string, l: Linear) => {
      await put(`${prefix}.weight`, l.weight);
      if (l.bias) await put(`${prefix}.bias`, l.bias);
    };
    const chunked = async (prefix: string, ls: Linear[]) => {
      await put(`${prefix}.weight`, ...ls.map((l) => l.weight));
      await put(`${prefix}.bias`, ...ls.map((l) => l.bias as Tensor));
    };
    await put('vocab_embed.embedding', w.embedding);
    if (w.sigmaMap) {
      await linear('sigma_map.mlp.0', w.sigmaMap.inner);
      await linear('sigma_map.mlp.2', w.sigmaMap.outer);
    }
    out.set('rotary_emb.inv_freq', {
      dtype: 'F32',
      shape: [this.headDim / 2],
      data: this.invFreqStored.slice(),
    });
    for (let i = 0; i < w.blocks.length; i++) {
      const bw = w.blocks[i];
      const p = `blocks.${i}`;
      await put(`${p}.norm1.weight`, bw.norm1);
      await put(`${p}.attn_qkv.weight`, bw.attnQkv);
      await put(`${p}.attn_out.weight`, bw.attnOut);
      await put(`${p}.norm2.weight`, bw.norm2);
      await linear(`${p}.mlp.0`, bw.mlpIn);
      await linear(`${p}.mlp.2`, bw.mlpOut);
      if (bw.adaLN) await chunked(`${p}.adaLN_modulation`, bw.adaLN);
    }
    await put('output_layer.norm_final.weight', w.finalNorm);
    await linear('output_layer.linear', w.head);
    if (w.finalAdaLN) await chunked('output_layer.adaLN_modulation', w.finalAdaLN);
    return out;
  }

  /** Frees every tensor of the model. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const w = this.weights;
    const all: Array<Tensor | undefined> = [w.embedding, w.finalNorm, w.head.weight, w.head.bias];
    if (w.sigmaMap)
      all.push(
        w.sigmaMap.inner.weight,
        w.sigmaMap.inner.bias,
        w.sigmaMap.outer.weight,
        w.sigmaMap.outer.bias,
      );
    for (const l of w.finalAdaLN ?? []) all.push(l.weight, l.bias);
    for (const bw of w.blocks) {
      all.push(
        bw.norm1,
        bw.attnQkv,
        bw.attnOut,
        bw.norm2,
        bw.mlpIn.weight,
        bw.mlpIn.bias,
        bw.mlpOut.weight,
        bw.mlpOut.bias,
      );
      for (const l of bw.adaLN ?? []) all.push(l.weight, l.bias);
    }
    for (const { cos, sin } of this.rotaryCache.values()) all.push(cos, sin);
    all.push(...this.causalMaskCache.values());
    for (const t of all) if (t && !t.disposed) t.dispose();
  }
}

const isTensor = (x: unknown): x is Tensor =>
  typeof (x as Tensor).read === 'function' && Array.isArray((x as Tensor).shape);

async function capture(options: ForwardOptions, name: string, t: Tensor): Promise<void> {
  if (options.intermediates) options.intermediates.set(name, (await t.read()) as Float32Array | Float64Array);
}

/**
 * The rotary buffer of the checkpoint, checked against 1/base^(2j/Dh) (the model recomputes it; a checkpoint
 * with another base would silently change the network). Absent → the f32 formula, as the reference stores it.
 */
async function checkedInvFreq(get: TensorLookup, config: DiTConfig): Promise<Float32Array> {
  const exact = rotaryInvFreq(config.hiddenSize / config.nHeads);
  const stored = await get('rotary_emb.inv_freq');
  if (!stored) return Float32Array.from(exact);
  if (stored.shape.length !== 1 || stored.shape[0] !== exact.length) {
    throw new TensorShapeMismatchError(
      'DiT.fromStateDict',
      `"rotary_emb.inv_freq" of shape [${stored.shape}]`,
      `[${exact.length}]`,
    );
  }
  for (let j = 0; j < exact.length; j++) {
    if (Math.abs(stored.data[j] - exact[j]) > 1e-6 * exact[j]) {
      throw new ModelConfigError(
        'DiT.fromStateDict',
        `rotary_emb.inv_freq[${j}] = ${stored.data[j]}`,
        `${exact[j]} (rotary base ${DIT_CONSTANTS.rotaryBase})`,
      );
    }
  }
  return Float32Array.from(stored.data);
}
