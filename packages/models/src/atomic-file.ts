/**
 * Atomic file writes (Node). The bytes go to a temporary file in the same directory, named
 * `<base>.partial-<pid>-<16 random hex>`, which is written, fsynced, renamed over the final name (atomic on a
 * POSIX filesystem) and followed by an fsync of the directory where the platform allows it. The final name
 * therefore only ever holds a complete file: the previous one or the new one, never a mix of two writers.
 * Temporaries left behind by killed writers are recognised by that pattern (and by the old
 * `<base>.partial-<base36 time>` pattern of earlier versions) and removed by the next write.
 */
import { CheckpointFileError } from './errors';

type FsPromises = typeof import('node:fs/promises');
// A computed specifier keeps bundlers (and the browser build) from trying to resolve the Node module.
const FS_MODULE = 'node:fs/promises';
/** node:fs/promises, loaded only when a file function is called. */
export const loadFs = (): Promise<FsPromises> => import(/* @vite-ignore */ FS_MODULE);

/** Temporaries this process is writing right now (same pid, so liveness alone cannot tell them apart). */
const ownLive = new Set<string>();

const NEW_PATTERN = /^\.partial-(\d+)-[0-9a-f]{16}$/;
const OLD_PATTERN = /^\.partial-[0-9a-z]+$/;

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Splits a path at its last separator (`/` or `\`) into directory and base name. */
function splitPath(path: string): { dir: string; base: string } {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  if (cut < 0) return { dir: '.', base: path };
  return { dir: cut === 0 ? path.slice(0, 1) : path.slice(0, cut), base: path.slice(cut + 1) };
}

const joinPath = (dir: string, name: string): string =>
  dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Whether a process with this id exists (EPERM: it exists but belongs to someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Node's errno errors (ENOENT, EISDIR, EACCES…) become a CheckpointFileError naming the path. */
export function fileError(op: string, path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('E')) return error;
  const what: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EISDIR: 'a directory',
    ENOTDIR: 'a path through something that is not a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    EROFS: 'a read-only filesystem',
  };
  return new CheckpointFileError(
    op,
    `"${path}": ${what[code] ?? code} (${code})`,
    op.includes('write') ? 'a writable file path' : 'a readable regular file',
    (error as Error).message,
  );
}

/**
 * Removes temporaries of earlier writers of `dir/baseName` that are gone: the pid in the name is not a live
 * process (or is this process but not one of its writes in flight), or the name has the old pid-less pattern.
 * Temporaries of live writers in other processes are left alone. Resolves to the names removed.
 */
export async function cleanStaleTemporaries(dir: string, baseName: string): Promise<string[]> {
  const fs = await loadFs();
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    throw fileError('cleanStaleTemporaries', dir, error);
  }
  const prefix = new RegExp(`^${escapeRegExp(baseName)}`);
  const removed: string[] = [];
  for (const name of names) {
    if (!prefix.test(name)) continue;
    const rest = name.slice(baseName.length);
    const match = NEW_PATTERN.exec(rest);
    const full = joinPath(dir, name);
    let stale = false;
    if (match) {
      const pid = Number(match[1]);
      stale = pid === process.pid ? !ownLive.has(full) : !processAlive(pid);
    } else stale = OLD_PATTERN.test(rest);
    if (!stale) continue;
    await fs.rm(full, { force: true });
    removed.push(name);
  }
  return removed;
}

async function syncDirectory(fs: FsPromises, dir: string): Promise<void> {
  let handle: Awaited<ReturnType<FsPromises['open']>> | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms (Windows) and filesystems cannot open or fsync a directory: the rename stands anyway.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The bytes to write: one buffer, a UTF-8 string, or pieces (written in order, never all held at once). */
export type AtomicData = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

function pieces(data: AtomicData): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  if (typeof data === 'string') return [new TextEncoder().encode(data)];
  if (data instanceof Uint8Array) return [data];
  return data;
}

/**
 * Writes `data` to `path` atomically: a uniquely named temporary in the same directory is written, fsynced and
 * renamed over `path`, then the directory is fsynced. On any error the temporary is removed and `path` is left
 * as it was. Stale temporaries of killed writers are cleaned after a successful write.
 */
export async function writeFileAtomic(path: string, data: AtomicData): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new CheckpointFileError('writeFileAtomic', JSON.stringify(path) ?? String(path), 'a file path');
  }
  const fs = await loadFs();
  const { dir, base } = splitPath(path);
  const temp = joinPath(dir, `${base}.partial-${process.pid}-${randomHex(8)}`);
  ownLive.add(temp);
  try {
    const handle = await fs.open(temp, 'wx');
    try {
      for await (const piece of pieces(data)) await handle.write(piece);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw fileError('writeFileAtomic', path, error);
  } finally {
    ownLive.delete(temp);
  }
  await syncDirectory(fs, dir);
  await cleanStaleTemporaries(dir, base).catch(() => undefined);
}
