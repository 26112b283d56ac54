/**
 * Training checkpoints, independent of the training loop: tensors go in and come out as plain
 * { name → { shape, data } } maps. A checkpoint is a directory:
 *
 *   weights.safetensors    the raw weights, in the reference's state-dict names (loadable by `loadDiT`)
 *   ema.safetensors        the EMA weights, same names (optional)
 *   optimizer.safetensors  AdamW moments: `exp_avg.<name>` and `exp_avg_sq.<name>` for each parameter
 *   state.json             step, RNG offsets, data cursor, config, metrics summary, and the SHA-256 and size of
 *                          every file above
 *
 * Each file is written with writeFileAtomic (temporary, fsync, rename); state.json goes last and commits the
 * checkpoint: a directory without it is incomplete and ignored. `loadCheckpoint` re-hashes every file and
 * refuses a mismatch (CheckpointCorruptError); `checkResumeCompatible` refuses a checkpoint of another config
 * (CheckpointMismatchError naming the differing keys). Several checkpoints live side by side under a root as
 * `step-<9 digits>/`; `saveCheckpoint` keeps the newest N.
 */
import { createHash } from 'node:crypto';
import {
  configToReference,
  type DiTConfig,
  SafetensorsReader,
  safetensorsChunks,
  type TensorToWrite,
  writeFileAtomic,
} from '@duality/models';
import type { LoaderCursor } from './data/loader';
import { CheckpointCorruptError, CheckpointMismatchError, TrainError } from './errors';

type Fs = typeof import('node:fs/promises');
const loadFs = (): Promise<Fs> => import('node:fs/promises');

export interface HostTensor {
  shape: readonly number[];
  data: Float32Array | Float64Array;
}
export type TensorMap = ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>;

/** Everything of a checkpoint that is not a tensor (plain JSON). */
export interface CheckpointState {
  /** Optimiser updates done. */
  step: number;
  /** Offsets (or other counters) of the random streams the loop draws from, by name. */
  rng: Record<string, number>;
  /** The training loader's cursor (of the next batch). */
  cursor: LoaderCursor;
  /** The parsed training config. */
  config: unknown;
  /** A summary of the metrics so far (last loss, best validation BPC, …). */
  metrics?: Record<string, number | null>;
}

export interface CheckpointContents {
  weights: TensorMap;
  ema?: TensorMap;
  optimizer: { expAvg: TensorMap; expAvgSq: TensorMap };
  state: CheckpointState;
}

export interface LoadedCheckpoint {
  dir: string;
  weights: Map<string, HostTensor>;
  ema?: Map<string, HostTensor>;
  optimizer: { expAvg: Map<string, HostTensor>; expAvgSq: Map<string, HostTensor> };
  state: CheckpointState;
  /** SHA-256 (hex) of each file, as recorded and verified. */
  hashes: Record<string, string>;
}

export const STATE_FILE = 'state.json';
export const WEIGHTS_FILE = 'weights.safetensors';
export const EMA_FILE = 'ema.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'duality-train-checkpoint';
const VERSION = 1;

interface FileRecord {
  sha256: string;
  bytes: number;
}
interface StateFile extends CheckpointState {
  format: string;
  version: number;
  files: Record<string, FileRecord>;
}

const entriesOf = (m: TensorMap): Array<[string, HostTensor]> =>
  m instanceof Map ? [...m.entries()] : Object.entries(m as Record<string, HostTensor>);

/** A tensor map as safetensors entries: F64 for Float64Array data, F32 for Float32Array. */
function toWrite(entries: Array<[string, HostTensor]>): Map<string, TensorToWrite> {
  const out = new Map<string, TensorToWrite>();
  for (const [name, t] of entries) {
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) {
      throw new TrainError(
        'saveCheckpoint',
        `tensor "${name}" with ${Object.prototype.toString.call(t.data)}`,
        'Float32Array or Float64Array data',
      );
    }
    out.set(name, { dtype: t.data instanceof Float64Array ? 'F64' : 'F32', shape: t.shape, data: t.data });
  }
  return out;
}

/** Writes one safetensors file atomically, hashing the bytes as they stream out. */
async function writeTensors(
  path: string,
  tensors: Map<string, TensorToWrite>,
  metadata: Record<string, string>,
): Promise<FileRecord> {
  const hash = createHash('sha256');
  let bytes = 0;
  function* hashed(): Generator<Uint8Array> {
    for (const chunk of safetensorsChunks(tensors, metadata)) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      yield chunk;
    }
  }
  await writeFileAtomic(path, hashed());
  return { sha256: hash.digest('hex'), bytes };
}

export interface SaveCheckpointOptions {
  /** The DiT's config: stored in the weight files' metadata so `loadDiT` needs no other config. */
  modelConfig?: DiTConfig;
}

/** Refuses a state that is not the plain data state.json holds. */
function checkState(state: CheckpointState): void {
  const bad = (got: string, expected: string): never => {
    throw new TrainError('saveCheckpoint', got, expected);
  };
  if (!Number.isSafeInteger(state?.step) || state.step < 0) bad(`step ${state?.step}`, 'an integer ≥ 0');
  for (const [k, x] of Object.entries(state.rng ?? {})) {
    if (typeof x !== 'number' || !Number.isFinite(x)) bad(`rng.${k} = ${String(x)}`, 'a finite number');
  }
  const c = state.cursor;
  if (!c || !Number.isSafeInteger(c.epoch) || !Number.isSafeInteger(c.index) || c.epoch < 0 || c.index < 0) {
    bad(`cursor ${JSON.stringify(c)}`, '{ epoch, index } of integers ≥ 0');
  }
}

/** Writes a checkpoint into `dir` (created if needed): the tensor files first, state.json last. */
export async function writeCheckpointDir(
  dir: string,
  contents: CheckpointContents,
  options: SaveCheckpointOptions = {},
): Promise<Record<string, FileRecord>> {
  checkState(contents.state);
  const fs = await loadFs();
  await fs.mkdir(dir, { recursive: true });
  await fs.rm(`${dir}/${STATE_FILE}`, { force: true }); // uncommit first: a rewrite in place is never half-valid
  const meta: Record<string, string> = { format: 'pt' };
  if (options.modelConfig) meta.config = JSON.stringify(configToReference(options.modelConfig));
  const files: Record<string, FileRecord> = {};
  files[WEIGHTS_FILE] = await writeTensors(
    `${dir}/${WEIGHTS_FILE}`,
    toWrite(entriesOf(contents.weights)),
    meta,
  );
  if (contents.ema)
    files[EMA_FILE] = await writeTensors(`${dir}/${EMA_FILE}`, toWrite(entriesOf(contents.ema)), meta);
  const moments = [
    ...entriesOf(contents.optimizer.expAvg).map(([n, t]): [string, HostTensor] => [`exp_avg.${n}`, t]),
    ...entriesOf(contents.optimizer.expAvgSq).map(([n, t]): [string, HostTensor] => [`exp_avg_sq.${n}`, t]),
  ];
  files[OPTIMIZER_FILE] = await writeTensors(`${dir}/${OPTIMIZER_FILE}`, toWrite(moments), {
    format: 'duality-adamw',
  });
  if (!contents.ema) await fs.rm(`${dir}/${EMA_FILE}`, { force: true });
  const state: StateFile = { format: FORMAT, version: VERSION, ...contents.state, files };
  await writeFileAtomic(`${dir}/${STATE_FILE}`, `${JSON.stringify(state, null, 2)}\n`);
  return files;
}

const corrupt = (dir: string, got: string, expected: string): never => {
  throw new CheckpointCorruptError('loadCheckpoint', `${dir}: ${got}`, expected);
};

async function readState(dir: string): Promise<StateFile> {
  const fs = await loadFs();
  let text: string;
  try {
    text = await fs.readFile(`${dir}/${STATE_FILE}`, 'utf8');
  } catch {
    return corrupt(dir, `no readable ${STATE_FILE}`, 'a committed checkpoint (state.json is written last)');
  }
  let state: StateFile;
  try {
    state = JSON.parse(text);
  } catch {
    return corrupt(dir, `${STATE_FILE} that is not JSON`, 'the JSON saveCheckpoint writes');
  }
  if (state?.format !== FORMAT || state.version !== VERSION || typeof state.files !== 'object') {
    corrupt(
      dir,
      `${STATE_FILE} of format ${JSON.stringify(state?.format)} v${state?.version}`,
      `${FORMAT} v${VERSION}`,
    );
  }
  if (!Number.isSafeInteger(state.step) || state.step < 0)
    corrupt(dir, `step ${state.step}`, 'an integer ≥ 0');
  if (!state.files[WEIGHTS_FILE] || !state.files[OPTIMIZER_FILE]) {
    corrupt(dir, `files ${Object.keys(state.files).join(', ')}`, `${WEIGHTS_FILE} and ${OPTIMIZER_FILE}`);
  }
  return state;
}

/** Reads one recorded file, checks its size and SHA-256, and parses its tensors. */
async function readVerified(dir: string, name: string, record: FileRecord): Promise<Map<string, HostTensor>> {
  const fs = await loadFs();
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(`${dir}/${name}`));
  } catch {
    return corrupt(dir, `${name} missing or unreadable`, `the ${record.bytes}-byte file state.json records`);
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (bytes.byteLength !== record.bytes || digest !== record.sha256) {
    corrupt(
      dir,
      `${name} of ${bytes.byteLength} bytes, SHA-256 ${digest}`,
      `${record.bytes} bytes, SHA-256 ${record.sha256}`,
    );
  }
  const reader = await SafetensorsReader.open(bytes);
  const out = new Map<string, HostTensor>();
  for (const [n, t] of await reader.readAll()) out.set(n, { shape: t.shape, data: t.data });
  return out;
}

function splitMoments(dir: string, all: Map<string, HostTensor>): LoadedCheckpoint['optimizer'] {
  const expAvg = new Map<string, HostTensor>();
  const expAvgSq = new Map<string, HostTensor>();
  for (const [n, t] of all) {
    if (n.startsWith('exp_avg_sq.')) expAvgSq.set(n.slice('exp_avg_sq.'.length), t);
    else if (n.startsWith('exp_avg.')) expAvg.set(n.slice('exp_avg.'.length), t);
    else corrupt(dir, `optimizer tensor "${n}"`, 'names exp_avg.<param> and exp_avg_sq.<param>');
  }
  return { expAvg, expAvgSq };
}

/** Loads a checkpoint directory, verifying every file against the hashes state.json records. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const state = await readState(dir);
  const { format: _f, version: _v, files, ...rest } = state;
  const weights = await readVerified(dir, WEIGHTS_FILE, files[WEIGHTS_FILE]);
  const ema = files[EMA_FILE] ? await readVerified(dir, EMA_FILE, files[EMA_FILE]) : undefined;
  const optimizer = splitMoments(dir, await readVerified(dir, OPTIMIZER_FILE, files[OPTIMIZER_FILE]));
  const hashes = Object.fromEntries(Object.entries(files).map(([n, r]) => [n, r.sha256]));
  return { dir, weights, ...(ema ? { ema } : {}), optimizer, state: rest, hashes };
}

// ------------------------------------------------------------------------------------------- resume check

/** Key paths (dot-separated) where two JSON values differ. */
export function diffKeys(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) {
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || 'config'];
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((k) => diffKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
}

/** Config keys that may change between a run and its resumption (they do not change the training). */
export const RESUMABLE_KEYS: readonly string[] = ['checkpoint', 'validation', 'data.cacheDir'];

interface PlannedRun {
  steps?: number;
  optimizer?: { schedule?: string };
}

/**
 * The keys `current` may change when resuming a run saved at `savedStep` with `saved`: RESUMABLE_KEYS, and
 * `steps` when both use the constant LR schedule (no step of it depends on the total, so a run extended from its
 * checkpoint equals an uninterrupted run of the new length; a cosine decay does depend on it). Steps behind the
 * checkpoint would run nothing: a CheckpointMismatchError.
 */
export function resumableKeysFor(saved: PlannedRun, current: PlannedRun, savedStep: number): string[] {
  const constant = saved.optimizer?.schedule === 'constant' && current.optimizer?.schedule === 'constant';
  if (!constant || saved.steps === current.steps || current.steps === undefined) return [...RESUMABLE_KEYS];
  if (current.steps < savedStep)
    throw new CheckpointMismatchError(
      'resume',
      `steps = ${current.steps}`,
      `at least the checkpoint's step ${savedStep}`,
      'a run continues from its checkpoint; start a new run for a shorter one',
      ['steps'],
    );
  return [...RESUMABLE_KEYS, 'steps'];
}

/**
 * Refuses to resume `current` from a checkpoint saved with another config: a CheckpointMismatchError naming
 * every differing key path (with both values), except those under `ignore` (default RESUMABLE_KEYS).
 */
export function checkResumeCompatible(
  saved: unknown,
  current: unknown,
  ignore: readonly string[] = RESUMABLE_KEYS,
): void {
  const under = (path: string, root: string) => path === root || path.startsWith(`${root}.`);
  const keys = diffKeys(saved, current).filter((p) => !ignore.some((r) => under(p, r)));
  if (keys.length === 0) return;
  const at = (x: unknown, path: string) =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], x);
  const show = (p: string) => `${p} = ${JSON.stringify(at(current, p)) ?? 'nothing'}`;
  const was = (p: string) => `${p} = ${JSON.stringify(at(saved, p)) ?? 'nothing'}`;
  throw new CheckpointMismatchError(
    'resume',
    `a config with ${keys.map(show).join(', ')}`,
    `the checkpoint's ${keys.map(was).join(', ')}`,
    'resume with the config the checkpoint was made with, or start a new run',
    keys,
  );
}

// --------------------------------------------------------------------------------- a root of checkpoints

const STEP_DIR = /^step-(\d{9,})$/;
export const stepDirName = (step: number): string => `step-${String(step).padStart(9, '0')}`;

export interface CheckpointEntry {
  step: number;
  dir: string;
  /** Whether state.json is there (the checkpoint was committed). */
  committed: boolean;
}

/** The step-* directories under `root`, oldest first. */
export async function listCheckpoints(root: string): Promise<CheckpointEntry[]> {
  const fs = await loadFs();
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return [];
  }
  const out: CheckpointEntry[] = [];
  for (const name of names) {
    const m = STEP_DIR.exec(name);
    if (!m) continue;
    const dir = `${root}/${name}`;
    const committed = await fs.access(`${dir}/${STATE_FILE}`).then(
      () => true,
      () => false,
    );
    out.push({ step: Number(m[1]), dir, committed });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The newest committed checkpoint directory under `root`, if any. */
export async function latestCheckpoint(root: string): Promise<string | undefined> {
  return (await listCheckpoints(root)).filter((e) => e.committed).pop()?.dir;
}

/** Removes all but the newest `keep` committed checkpoints, and uncommitted ones older than the newest kept. */
export async function pruneCheckpoints(root: string, keep: number): Promise<string[]> {
  if (!Number.isSafeInteger(keep) || keep < 1)
    throw new TrainError('pruneCheckpoints', `keep ${keep}`, 'an integer ≥ 1');
  const fs = await loadFs();
  const all = await listCheckpoints(root);
  const kept = all.filter((e) => e.committed).slice(-keep);
  const oldestKept = kept[0]?.step ?? Number.POSITIVE_INFINITY;
  const removed = all.filter((e) => !kept.includes(e) && (e.committed || e.step < oldestKept));
  for (const e of removed) await fs.rm(e.dir, { recursive: true, force: true });
  return removed.map((e) => e.dir);
}

export interface SaveOptions extends SaveCheckpointOptions {
  /** Checkpoints to keep under the root (default: all). */
  keep?: number;
}

/** Writes the checkpoint of `contents.state.step` under `root` as step-<step>/ and keeps the newest N. */
export async function saveCheckpoint(
  root: string,
  contents: CheckpointContents,
  options: SaveOptions = {},
): Promise<string> {
  const dir = `${root}/${stepDirName(contents.state.step)}`;
  await writeCheckpointDir(dir, contents, options);
  if (options.keep !== undefined) await pruneCheckpoints(root, options.keep);
  return dir;
}
