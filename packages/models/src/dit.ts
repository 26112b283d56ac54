/**
 * The diffusion transformer (DiT) of MDLM/Duo (`s-sahoo/duo` models/dit.py), and its causal variant, written
 * layer by layer on recorded ops (Backend methods and `defineOp` ops), so the one forward runs untaped for
 * inference and taped inside `valueAndGrad` for training. Linear weights keep torch's [out, in] layout
 * (y = x Wᵀ + b → `matmul(x, W, { transposeB: true, bias })`).
 *
 *   h = E[x] | Σ_k w_k E[i_k] | softmax(z) E                        input embedding (tokens | top-k soft | dense)
 *   c = silu(MLP(timestep_features(sigma)))                           time conditioning, sigma = −log alpha_t
 *   per block:  (sh1, sc1, g1, sh2, sc2, g2) = chunk(W_ada c + b_ada, 6)    (slices of one product)
 *               h += g1 · W_out attn(rope(q), rope(k), v)(LN(h)(1 + sc1) + sh1)
 *               h += g2 · MLP_gelu_tanh(LN(h)(1 + sc2) + sh2)
 *   logits = W_lin (LN(h)(1 + sc) + sh) + b_lin,  (sh, sc) = chunk(W_f c + b_f, 2)
 *
 * The causal variant drops c and every adaLN term (gates 1, no modulation) and masks attention to the past.
 * Ownership: the async part of `forward` (id checks, reading sigma) runs first, then one synchronous `tidy`
 * body (one nested `tidy` per block) frees every temporary; on the cpu backend in f32 and outside gradient
 * scopes, fused inference-only kernels (cpu-fast.ts) replace softmax, GELU, LayerNorm + modulation and the
 * gated residual.
 */
import {
  ArgumentError,
  type Backend,
  DTypeError,
  describeShape,
  type FloatDType,
  isRecording,
  keep,
  ShapeError,
  slice,
  type Tensor,
  tidy,
} from '@duality/kernels';
import { mergeHeads, splitHeadsRotary } from './attention-ops';
import { DIT_CONSTANTS, type DiTConfig, referenceStateDictShapes } from './config';
import { gatedResidual, geluTanhFast, layerNormModulate, softmaxRowsFast } from './cpu-fast';
import { dropout } from './dropout';
import {
  MissingTensorError,
  ModelConfigError,
  SequenceTooLongError,
  TensorShapeMismatchError,
  TokenOutOfVocabularyError,
} from './errors';
import { checkFiniteValues, checkSigmaKind } from './input-checks';
import { checkParameters, type DiTParameters, parameterShapes, ROTARY_BUFFER } from './params';
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
  /**
   * Tensors to use in place of some (or all) of the model's parameters for this call, by reference name (same
   * shapes, dtype and backend). Default: the model's own live parameters.
   */
  parameters?: Partial<DiTParameters>;
  /**
   * Check soft weights / dense logits for NaN and +∞ (a NaN would make its whole row NaN): always on cpu (a
   * scan); on webgpu only with `checkValues: true`, as it reads the tensor back.
   */
  checkValues?: boolean;
}

/** Gives the stored tensor of a reference state-dict name (or undefined when absent). */
export type TensorLookup = (name: string) => Promise<StoredTensor | undefined>;

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

/** Whether the f32 cpu inference kernels may run now (never inside a gradient scope). */
type Fast = boolean;

export class DiT {
  readonly config: DiTConfig;
  readonly backend: Backend;
  readonly dtype: FloatDType;
  /** The live parameter tensors the forward reads, by reference name. */
  private params: DiTParameters;
  /** The rotary buffer as the checkpoint stored it (written back unchanged). */
  private readonly invFreqStored: Float32Array;
  private readonly rotaryCache = new Map<number, { cos: Tensor; sin: Tensor }>();
  private readonly causalMaskCache = new Map<number, Tensor>();
  private disposed = false;

  private constructor(
    backend: Backend,
    config: DiTConfig,
    dtype: FloatDType,
    params: DiTParameters,
    invFreq: Float32Array,
  ) {
    this.backend = backend;
    this.config = config;
    this.dtype = dtype;
    this.params = params;
    for (const t of Object.values(params)) keep(t); // the model owns them, whatever tidy scope built it
    this.invFreqStored = invFreq;
  }

  get headDim(): number {
    return this.config.hiddenSize / this.config.nHeads;
  }

  /**
   * Builds the model from reference state-dict tensors (names of `DIT.state_dict()`); every tensor is checked
   * against the shape the config implies. `lookup` can read lazily from a file, one tensor at a time. The values
   * are copied into new tensors (`adopt` is accepted for compatibility and no longer changes anything).
   */
  static async fromStateDict(
    backend: Backend,
    config: DiTConfig,
    lookup: TensorLookup | Map<string, StoredTensor>,
    options: { dtype?: FloatDType; adopt?: boolean } = {},
  ): Promise<DiT> {
    const dtype = options.dtype ?? 'f32';
    if (dtype === 'f64' && !backend.supportsF64)
      throw new DTypeError('DiT.fromStateDict', 'f64', `f32 on the ${backend.name} backend`);
    const get = lookup instanceof Map ? async (n: string) => lookup.get(n) : lookup;
    const params: DiTParameters = {};
    try {
      const invFreq = checkedInvFreq('DiT.fromStateDict', config, await get(ROTARY_BUFFER));
      for (const [name, want] of parameterShapes(config)) {
        const stored = await get(name);
        if (!stored)
          throw new MissingTensorError(
            'DiT.fromStateDict',
            `no tensor "${name}"`,
            `a tensor of shape ${describeShape(want)}`,
          );
        if (stored.shape.length !== want.length || stored.shape.some((d, i) => d !== want[i])) {
          throw new TensorShapeMismatchError(
            'DiT.fromStateDict',
            `"${name}" of shape ${describeShape(stored.shape)}`,
            describeShape(want),
          );
        }
        params[name] = backend.tensor(stored.data, want, dtype);
      }
      return new DiT(backend, config, dtype, params, invFreq);
    } catch (error) {
      for (const t of Object.values(params)) t.dispose();
      throw error;
    }
  }

  /**
   * Builds the model around existing tensors (no copy): every name of `parameterShapes(config)`, reference
   * shapes, one float dtype and backend. The model owns them from then on (`dispose()` frees them); training
   * updates them in place, and every forward reads them as they are. `invFreq`: the stored rotary buffer
   * (default 1/10000^(2j/Dh) in f32).
   */
  static fromParameters(
    config: DiTConfig,
    params: DiTParameters,
    options: { invFreq?: ArrayLike<number> } = {},
  ): DiT {
    const dtype = checkParameters('DiT.fromParameters', config, params, true) as FloatDType;
    const own: DiTParameters = {};
    for (const [name] of parameterShapes(config)) own[name] = params[name];
    const backend = own['vocab_embed.embedding'].backend;
    const stored: StoredTensor | undefined = options.invFreq && {
      dtype: 'F32',
      shape: [options.invFreq.length],
      data: Float32Array.from(options.invFreq),
    };
    const invFreq = checkedInvFreq('DiT.fromParameters', config, stored);
    return new DiT(backend, config, dtype, own, invFreq);
  }

  /**
   * The trainable tensors by reference name (the state dict minus `rotary_emb.inv_freq`): the very tensors the
   * forward reads, so `valueAndGrad((p) => loss(model.forward(…)))(model.parameters())` gives a gradient per
   * name. A new object each call; the tensors stay the model's.
   */
  parameters(): DiTParameters {
    this.checkLive('DiT.parameters');
    return { ...this.params };
  }

  /**
   * Replaces some (or all) parameters by other tensors (checked like `fromParameters`; same dtype and backend
   * as the model). Returns the tensors replaced, which are the caller's from then on (dispose them or not).
   */
  setParameters(params: Partial<DiTParameters>): DiTParameters {
    this.checkLive('DiT.setParameters');
    checkParameters('DiT.setParameters', this.config, params, false, {
      dtype: this.dtype,
      backend: this.backend,
    });
    const replaced: DiTParameters = {};
    for (const [name, t] of Object.entries(params)) {
      if (!t || t === this.params[name]) continue;
      replaced[name] = this.params[name];
      this.params = { ...this.params, [name]: keep(t) };
    }
    return replaced;
  }

  // ---------------------------------------------------------------------------------------------- forward

  /** Logits [B, L, V] for the input (and per-row sigma unless causal). */
  async forward(input: DiTInput, sigma?: SigmaInput, options: ForwardOptions = {}): Promise<Tensor> {
    this.checkLive('DiT.forward');
    const P = this.resolveParameters(options.parameters);
    const batch = await this.checkInput(input, options.checkValues === true);
    const sigmaValues = this.config.causal ? undefined : await this.sigmaValues(sigma, batch);
    this.checkTrain(options);
    const { logits, captured } = tidy(() => this.run(P, input, sigmaValues, options));
    if (captured) {
      try {
        for (const [name, t] of captured)
          options.intermediates?.set(name, (await t.read()) as Float32Array | Float64Array);
      } finally {
        for (const t of captured.values()) t.dispose();
      }
    }
    return logits;
  }

  /** The synchronous forward: every op recorded when a gradient scope is open. */
  private run(
    P: DiTParameters,
    input: DiTInput,
    sigma: ArrayLike<number> | undefined,
    options: ForwardOptions,
  ): { logits: Tensor; captured?: Map<string, Tensor> } {
    const fast: Fast = this.backend.name === 'cpu' && this.dtype === 'f32' && !isRecording();
    const captured = options.intermediates ? new Map<string, Tensor>() : undefined;
    let h = this.embed(P, input);
    const L = h.shape[1];
    const c = sigma ? this.timeCondition(P, sigma) : undefined;
    captured?.set('embed', h);
    if (c) captured?.set('t_cond', c);
    for (let i = 0; i < this.config.nBlocks; i++) {
      const prev = h;
      h = tidy(() => this.block(P, i, prev, c, L, options, fast));
      if (captured) captured.set(`block.${i}`, h);
      else prev.dispose();
    }
    return { logits: this.finalLayer(P, h, c, fast), captured };
  }

  /** Input embedding: E[tokens], Σ_k w_k E[i_k] (embedding bag), or softmax(logits) @ E (dense soft input). */
  private embed(P: DiTParameters, input: DiTInput): Tensor {
    const b = this.backend;
    const E = P['vocab_embed.embedding'];
    if ('tokens' in input) return b.embedding(E, input.tokens);
    if ('soft' in input) return b.embeddingBag(E, input.soft.indices, input.soft.weights);
    return b.matmul(b.softmax(input.dense), E);
  }

  /** c = silu(W2 silu(W1 tf + b1) + b2): the reference's `silu(sigma_map(sigma))`. */
  private timeCondition(P: DiTParameters, values: ArrayLike<number>): Tensor {
    const b = this.backend;
    const F = DIT_CONSTANTS.frequencyEmbeddingSize;
    const tf = b.tensor(timestepFeatures(values, F), [values.length, F], this.dtype);
    const hidden = b.silu(this.linear(tf, P, 'sigma_map.mlp.0'));
    return b.silu(this.linear(hidden, P, 'sigma_map.mlp.2'));
  }

  /**
   * The n modulation vectors [B, 1, D] of an adaLN projection (the reference's `.chunk(n, dim=1)`): the
   * projection stays one [n·D, C] tensor (its gradient has the reference shape) and its product is sliced.
   */
  private modulation(P: DiTParameters, prefix: string, c: Tensor, n: number): Tensor[] {
    const [B] = c.shape;
    const D = this.config.hiddenSize;
    const projected = this.backend.reshape(this.linear(c, P, prefix), [B, 1, n * D]);
    return Array.from({ length: n }, (_, i) => slice(projected, [0, 0, i * D], [B, 1, D]));
  }

  /** One transformer block (adaLN-modulated unless causal). */
  private block(
    P: DiTParameters,
    index: number,
    h: Tensor,
    c: Tensor | undefined,
    L: number,
    options: ForwardOptions,
    fast: Fast,
  ): Tensor {
    const p = `blocks.${index}.`;
    const mod = c ? this.modulation(P, `${p}adaLN_modulation`, c, 6) : undefined;
    // attention branch: h1 = h + g1 · attn(LN(h)(1 + sc1) + sh1)
    const a = this.normModulate(h, P[`${p}norm1.weight`], mod?.[0], mod?.[1], fast);
    const attn = this.dropout(this.attention(P, p, a, L, fast), 2 * index, options);
    const h1 = this.residual(h, attn, mod?.[2], fast);
    // MLP branch: h2 = h1 + g2 · MLP(LN(h1)(1 + sc2) + sh2)
    const m = this.normModulate(h1, P[`${p}norm2.weight`], mod?.[3], mod?.[4], fast);
    const inner = this.geluTanh(this.linear(m, P, `${p}mlp.0`), fast);
    const mlp = this.dropout(this.linear(inner, P, `${p}mlp.2`), 2 * index + 1, options);
    return this.residual(h1, mlp, mod?.[5], fast);
  }

  /** Multi-head self-attention with rotary q, k: softmax(q kᵀ/√Dh [+ causal mask]) v, then W_out. */
  private attention(P: DiTParameters, p: string, a: Tensor, L: number, fast: Fast): Tensor {
    const b = this.backend;
    const qkv = b.matmul(a, P[`${p}attn_qkv.weight`], { transposeB: true });
    const { cos, sin } = this.rotary(L);
    const { q, k, v } = splitHeadsRotary(b, qkv, cos, sin, this.config.nHeads, 1 / Math.sqrt(this.headDim));
    let scores = b.matmul(q, k, { transposeB: true });
    if (this.config.causal) scores = b.add(scores, this.causalMask(L));
    const probs = fast ? softmaxRowsFast(scores) : b.softmax(scores);
    scores.dispose(); // the largest temporary: free it now (deferred if a tape saved it)
    const o = mergeHeads(b, b.matmul(probs, v));
    return b.matmul(o, P[`${p}attn_out.weight`], { transposeB: true });
  }

  /** Final layer: logits = W_lin (LN(h)(1 + sc) + sh)ᵀ + b_lin (no modulation if causal). */
  private finalLayer(P: DiTParameters, h: Tensor, c: Tensor | undefined, fast: Fast): Tensor {
    const [shift, scale] = c ? this.modulation(P, 'output_layer.adaLN_modulation', c, 2) : [];
    const x = this.normModulate(h, P['output_layer.norm_final.weight'], shift, scale, fast);
    return this.linear(x, P, 'output_layer.linear');
  }

  /** LN(x)·w (1 + scale) + shift: weight-only LayerNorm, then the adaLN modulation (DiT) when given. */
  private normModulate(
    x: Tensor,
    weight: Tensor,
    shift: Tensor | undefined,
    scale: Tensor | undefined,
    fast: Fast,
  ): Tensor {
    const eps = DIT_CONSTANTS.layerNormEps;
    if (fast) return layerNormModulate(x, weight, eps, shift, scale);
    const b = this.backend;
    const normed = b.layerNorm(x, weight, eps);
    if (!shift || !scale) return normed;
    return b.add(b.mul(normed, b.scale(scale, 1, 1)), shift);
  }

  /** h + gate · x (gate per batch row; absent in the causal variant: h + x). */
  private residual(h: Tensor, x: Tensor, gate: Tensor | undefined, fast: Fast): Tensor {
    if (fast) return gatedResidual(h, x, gate);
    return this.backend.add(h, gate ? this.backend.mul(gate, x) : x);
  }

  /** GELU-tanh (the fused kernel on the cpu fast path; its input is freed at once there). */
  private geluTanh(x: Tensor, fast: Fast): Tensor {
    if (!fast) return this.backend.geluTanh(x);
    const y = geluTanhFast(x);
    x.dispose();
    return y;
  }

  /** x Wᵀ + b of the Linear layer `prefix` (bias when the layer has one). */
  private linear(x: Tensor, P: DiTParameters, prefix: string): Tensor {
    return this.backend.matmul(x, P[`${prefix}.weight`], { transposeB: true, bias: P[`${prefix}.bias`] });
  }

  /** Inverted dropout (dropout.ts) of site `site`: stream elements offset + site·size …; identity in eval. */
  private dropout(x: Tensor, site: number, options: ForwardOptions): Tensor {
    const train = options.train;
    const p = train?.p ?? this.config.dropout;
    if (!train || p === 0) return x;
    return dropout(x, { p, seed: train.seed, offset: (train.offset ?? 0) + site * x.size });
  }

  private rotary(L: number): { cos: Tensor; sin: Tensor } {
    let entry = this.rotaryCache.get(L);
    if (!entry) {
      const inv = this.dtype === 'f64' ? rotaryInvFreq(this.headDim) : this.invFreqStored;
      const { cos, sin } = rotaryTables(L, inv, this.dtype);
      const shape = [L, this.headDim / 2];
      entry = {
        cos: keep(this.backend.tensor(cos, shape, this.dtype)),
        sin: keep(this.backend.tensor(sin, shape, this.dtype)),
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
      mask = keep(this.backend.tensor(data, [L, L], this.dtype));
      this.causalMaskCache.set(L, mask);
    }
    return mask;
  }

  // ---------------------------------------------------------------------------------------------- input checks

  private checkLive(op: string): void {
    if (this.disposed) throw new ArgumentError(op, 'a disposed model', 'a live model');
  }

  /** The model's parameters with the call's overrides (checked against the model's shapes/dtype/backend). */
  private resolveParameters(overrides: Partial<DiTParameters> | undefined): DiTParameters {
    if (!overrides) return this.params;
    checkParameters('DiT.forward(parameters)', this.config, overrides, false, {
      dtype: this.dtype,
      backend: this.backend,
    });
    const out = { ...this.params };
    for (const [name, t] of Object.entries(overrides)) if (t) out[name] = t;
    return out;
  }

  /** Checks the input (ids in range, shapes, dtypes, length) and returns its batch size. */
  private async checkInput(input: DiTInput, readBack: boolean): Promise<number> {
    const V = this.config.vocabSize;
    const kinds = ['tokens', 'soft', 'dense'];
    if (input === null || typeof input !== 'object' || !kinds.some((k) => k in input)) {
      const got =
        input === null ? 'null' : typeof input === 'object' ? `{ ${Object.keys(input)} }` : typeof input;
      throw new ArgumentError(
        'DiT.forward',
        `input ${got}`,
        '{ tokens } | { soft: { indices, weights } } | { dense }',
      );
    }
    const tensors =
      'tokens' in input
        ? [input.tokens]
        : 'dense' in input
          ? [input.dense]
          : [input.soft?.indices, input.soft?.weights];
    if (!tensors.every(isTensor))
      throw new ArgumentError('DiT.forward', 'an input that is not a Tensor', 'Tensors');
    if ('tokens' in input) {
      await this.checkIds('DiT.forward(tokens)', input.tokens, 2);
      return input.tokens.shape[0];
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
      this.ensureDtype(weights);
      const finite = { allowNegativeInfinity: false, readBack };
      await checkFiniteValues('DiT.forward(soft.weights)', weights, finite);
      return indices.shape[0];
    }
    const logits = input.dense;
    if (logits.shape.length !== 3 || logits.shape[2] !== V) {
      throw new ShapeError('DiT.forward(dense)', `logits [${logits.shape}]`, `[B, L, ${V}]`);
    }
    this.checkLength('DiT.forward(dense)', logits.shape[1]);
    this.ensureDtype(logits);
    await checkFiniteValues('DiT.forward(dense)', logits, { allowNegativeInfinity: true, readBack });
    return logits.shape[0];
  }

  /** Per-row sigma as numbers (zeros when the model ignores sigma: `timeConditioning` false). */
  private async sigmaValues(sigma: SigmaInput | undefined, batch: number): Promise<ArrayLike<number>> {
    if (!this.config.timeConditioning) return new Float64Array(batch); // σ ignored: c(0)
    if (sigma === undefined)
      throw new ArgumentError('DiT.forward', 'no sigma', `sigma for each of the ${batch} rows`);
    if (!isTensor(sigma)) checkSigmaKind('DiT.forward(sigma)', sigma, batch);
    const values = isTensor(sigma) ? await sigma.read() : sigma;
    if (values.length !== batch)
      throw new ShapeError('DiT.forward(sigma)', `${values.length} values`, `${batch} (one per row)`);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]))
        throw new ArgumentError('DiT.forward(sigma)', `sigma[${i}] = ${values[i]}`, 'a finite number');
    }
    return values;
  }

  private checkTrain(options: ForwardOptions): void {
    const p = options.train?.p ?? this.config.dropout;
    if (options.train && !(p >= 0 && p < 1))
      throw new ArgumentError('DiT.forward(train.p)', String(p), 'a probability in [0, 1)');
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

  /** The reference's state dict (names, shapes, order) as host copies, values as the model holds them. */
  async stateDict(): Promise<Map<string, StoredTensor>> {
    this.checkLive('DiT.stateDict');
    const dtype = this.dtype === 'f64' ? 'F64' : 'F32';
    const out = new Map<string, StoredTensor>();
    for (const [name, shape] of referenceStateDictShapes(this.config)) {
      if (name === ROTARY_BUFFER) {
        out.set(name, { dtype: 'F32', shape, data: this.invFreqStored.slice() });
        continue;
      }
      const data = (await this.params[name].read()) as Float32Array | Float64Array;
      out.set(name, { dtype, shape, data });
    }
    return out;
  }

  /** Frees every tensor of the model (its parameters included). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const all: Tensor[] = [...Object.values(this.params)];
    for (const { cos, sin } of this.rotaryCache.values()) all.push(cos, sin);
    all.push(...this.causalMaskCache.values());
    for (const t of all) if (!t.disposed) t.dispose();
  }
}

const isTensor = (x: unknown): x is Tensor =>
  typeof x === 'object' &&
  x !== null &&
  typeof (x as Tensor).read === 'function' &&
  Array.isArray((x as Tensor).shape);

/**
 * The rotary buffer of the checkpoint, checked against 1/base^(2j/Dh) (the model recomputes it; a checkpoint
 * with another base would silently change the network). Absent → the f32 formula, as the reference stores it.
 */
function checkedInvFreq(op: string, config: DiTConfig, stored: StoredTensor | undefined): Float32Array {
  const exact = rotaryInvFreq(config.hiddenSize / config.nHeads);
  if (!stored) return Float32Array.from(exact);
  if (stored.shape.length !== 1 || stored.shape[0] !== exact.length) {
    throw new TensorShapeMismatchError(
      op,
      `"${ROTARY_BUFFER}" of shape [${stored.shape}]`,
      `[${exact.length}]`,
    );
  }
  for (let j = 0; j < exact.length; j++) {
    if (Math.abs(stored.data[j] - exact[j]) > 1e-6 * exact[j]) {
      throw new ModelConfigError(
        op,
        `${ROTARY_BUFFER}[${j}] = ${stored.data[j]}`,
        `${exact[j]} (rotary base ${DIT_CONSTANTS.rotaryBase})`,
      );
    }
  }
  return Float32Array.from(stored.data);
}
