import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '@duality/kernels';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CheckpointFileError,
  cleanStaleTemporaries,
  loadDiT,
  openSafetensorsFile,
  SafetensorsReader,
  serializeSafetensors,
  writeFileAtomic,
  writeSafetensorsFile,
} from '../src/index';

const here = dirname(fileURLToPath(import.meta.url));
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'duality-atomic-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const temporaries = (d: string): string[] => readdirSync(d).filter((f) => f.includes('.partial-'));

/** Distinct, self-describing content for writer `w`: every byte says which writer wrote it. */
const payload = (w: number, bytes: number): Uint8Array => new Uint8Array(bytes).fill(w + 1);

describe('writeFileAtomic', () => {
  it('20 concurrent writers to one path in the same millisecond: the file is one whole writer output', async () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000); // what broke the Date.now() names
    try {
      const path = join(dir, 'race.bin');
      for (let round = 0; round < 5; round++) {
        const sizes = Array.from({ length: 20 }, (_, w) => 200_000 + 997 * w); // lengths differ too
        await Promise.all(sizes.map((size, w) => writeFileAtomic(path, payload(w, size))));
        const got = readFileSync(path);
        const writer = got[0] - 1;
        expect(writer).toBeGreaterThanOrEqual(0);
        expect(writer).toBeLessThan(20);
        expect(got.byteLength).toBe(sizes[writer]);
        expect(got.every((b) => b === writer + 1)).toBe(true);
        expect(temporaries(dir)).toEqual([]);
      }
    } finally {
      now.mockRestore();
    }
  });

  it('20 concurrent safetensors writers: the file always reads back as exactly one of them', async () => {
    const path = join(dir, 'race.safetensors');
    const tensors = (w: number) => ({
      x: { dtype: 'F32' as const, shape: [4096 + w], data: Float32Array.from({ length: 4096 + w }, () => w) },
    });
    await Promise.all(
      Array.from({ length: 20 }, (_, w) => writeSafetensorsFile(path, tensors(w), { w: String(w) })),
    );
    const bytes = readFileSync(path);
    const reader = await SafetensorsReader.open(new Uint8Array(bytes));
    const w = Number(reader.metadata.w);
    expect(new Uint8Array(bytes)).toEqual(serializeSafetensors(tensors(w), { w: String(w) }));
    expect(temporaries(dir)).toEqual([]);
  });

  it('writes strings as UTF-8 and replaces an existing file', async () => {
    const path = join(dir, 'text.json');
    await writeFileAtomic(path, '{"a":1}');
    await writeFileAtomic(path, '{"ü":2}');
    expect(readFileSync(path, 'utf8')).toBe('{"ü":2}');
  });

  it('a failure mid-write removes the temporary and leaves the old file untouched', async () => {
    const path = join(dir, 'keep.bin');
    await writeFileAtomic(path, payload(7, 1000));
    function* failing(): Generator<Uint8Array> {
      yield payload(1, 500);
      throw new Error('producer failed');
    }
    await expect(writeFileAtomic(path, failing())).rejects.toThrow('producer failed');
    expect(readFileSync(path)).toEqual(Buffer.from(payload(7, 1000)));
    expect(temporaries(dir)).toEqual([]);
  });

  it('a missing directory or a directory as target is a CheckpointFileError naming the path', async () => {
    const missing = join(dir, 'no-such-dir', 'x.bin');
    const err = await writeFileAtomic(missing, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointFileError);
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).toContain('ENOENT');
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    await expect(writeFileAtomic(sub, 'x')).rejects.toBeInstanceOf(CheckpointFileError);
    await expect(
      writeSafetensorsFile(missing, { a: { dtype: 'F32', shape: [1], data: [1] } }),
    ).rejects.toBeInstanceOf(CheckpointFileError);
    expect(temporaries(dir)).toEqual([]);
  });
});

describe('cleanStaleTemporaries', () => {
  it('removes dead writers’ and old-pattern temporaries, keeps live writers’ and unrelated files', async () => {
    const d = mkdtempSync(join(dir, 'clean-'));
    const deadPid = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '0']);
      child.on('exit', () => resolve(child.pid as number));
    });
    const names = {
      dead: `m.st.partial-${deadPid}-0123456789abcdef`,
      ownIdle: `m.st.partial-${process.pid}-fedcba9876543210`, // this process, but no write in flight
      old: `m.st.partial-${(1_700_000_000_000).toString(36)}`,
      live: `m.st.partial-${process.ppid}-00112233445566ff`, // the parent process is alive
      other: 'm.st.partial-notes.txt',
      otherBase: `n.st.partial-${deadPid}-0123456789abcdef`,
    };
    for (const n of Object.values(names)) writeFileSync(join(d, n), 'x');
    const removed = await cleanStaleTemporaries(d, 'm.st');
    expect(removed.sort()).toEqual([names.dead, names.ownIdle, names.old].sort());
    expect(readdirSync(d).sort()).toEqual([names.live, names.other, names.otherBase].sort());
  });

  it('an unreadable directory is a CheckpointFileError', async () => {
    await expect(cleanStaleTemporaries(join(dir, 'absent'), 'x')).rejects.toBeInstanceOf(CheckpointFileError);
  });
});

describe('file errors from the readers are typed', () => {
  it('openSafetensorsFile and loadDiT on a missing file or a directory', async () => {
    const missing = join(dir, 'missing.safetensors');
    const e1 = await openSafetensorsFile(missing).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(CheckpointFileError);
    expect((e1 as Error).message).toContain(missing);
    await expect(openSafetensorsFile(dir)).rejects.toBeInstanceOf(CheckpointFileError);
    const backend = await createBackend('cpu', { threads: 0 });
    try {
      const e2 = await loadDiT(backend, missing).catch((e: unknown) => e);
      expect(e2).toBeInstanceOf(CheckpointFileError);
      expect((e2 as Error).message).toContain(missing);
      await expect(loadDiT(backend, dir)).rejects.toBeInstanceOf(CheckpointFileError);
    } finally {
      backend.destroy();
    }
  });
});

describe('a writer killed with SIGKILL', () => {
  const require = createRequire(import.meta.url);
  const tsx = require.resolve('tsx');
  const n = 300_000; // 1.2 MB of tensor data per write, so a kill often lands mid-write

  function startWriter(path: string): { child: ChildProcess; writes: () => number } {
    const child = spawn(
      process.execPath,
      ['--import', tsx, join(here, 'helpers', 'kill-writer.ts'), path, String(n)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let count = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      count += chunk
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('wrote')).length;
    });
    return { child, writes: () => count };
  }

  async function checkComplete(path: string): Promise<void> {
    const reader = await openSafetensorsFile(path);
    const i = Number(reader.metadata.iteration);
    const x = await reader.read('x');
    await reader.close();
    expect(x.length).toBe(n);
    for (let j = 0; j < n; j += 997) expect(x[j]).toBe(i + j / 1024);
    expect(x[n - 1]).toBe(i + (n - 1) / 1024);
  }

  it('never leaves a corrupt file under the final name; the next write removes its temporaries', async () => {
    const d = mkdtempSync(join(dir, 'kill-'));
    const path = join(d, 'ckpt.safetensors');
    let leftBehind = 0;
    for (let kill = 0; kill < 6; kill++) {
      const { child, writes } = startWriter(path);
      const exited = new Promise((resolve) => child.on('exit', resolve));
      // wait for at least one complete write, then kill at a varying moment inside the next ones
      while (writes() < 1 && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      expect(child.exitCode).toBeNull();
      await new Promise((r) => setTimeout(r, 3 + 17 * kill));
      child.kill('SIGKILL');
      await exited;
      await checkComplete(path);
      if (temporaries(d).length > 0) leftBehind++;
    }
    console.log(`atomic-file SIGKILL test: ${leftBehind} of 6 kills left a temporary behind`);
    await writeSafetensorsFile(path, { x: { dtype: 'F32', shape: [1], data: [5] } }, { iteration: 'last' });
    expect(temporaries(d)).toEqual([]);
    const reader = await openSafetensorsFile(path);
    expect(reader.metadata.iteration).toBe('last');
    await reader.close();
  }, 120_000);
});
