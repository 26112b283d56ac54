/**
 * The task runner shared by the main thread and the worker threads, as JavaScript source: workers are created
 * from an inline string (no separate file, so the pool works from src/, from dist/ and in a bundle), and the main
 * thread evaluates the very same text, so inline and threaded runs execute identical code.
 *
 * `createRunner(exports, mr, nr)` takes the exports of one wasm kernels instance and returns `run(job, task)` and
 * `packB(...)` (packs op(B) column tiles into gemm panels, used by the caller before a matmul job).
 * Jobs (built in matmul.ts / sample.ts):
 *   matmul: { kind, a, out, bias, m, k, n, tA, aOffsets, tilesM, tilesN, tileM, tileN, panels, panelRegion,
 *             regionSize }
 *           task t → batch item, column tile, row tile (fastest); copies the tile's B panels (packed once by the
 *           caller) and packs A panels into wasm memory, calls gemm, writes out
 *   sample: { kind, logits, n, k0, k1, offset, invT, t0, chunk, chunksPerRow, cand, cap, stride, nan }
 *           task t → row, column chunk; streams the chunk through wasm gumbel, writes its candidates (and
 *           nan[0] = 1 when the chunk held a NaN logit)
 *   random: { kind, kernel ('uniformF32' | 'uniformF64' | 'normalF32' | 'normalF64'), out, k0, k1, offset,
 *             count, chunk }
 *           task t → elements t·chunk … of out = stream elements offset + t·chunk …; fills them in slices of
 *           whole Philox block groups in wasm memory (the slice's first block holds its first element), copies
 *           the wanted elements out
 *   js:     { kind, source, args, count, chunk }
 *           task t → items t·chunk … of a range kernel (parallel.ts): the self-contained JS function whose text is
 *           `source` (compiled once per thread and source), called as f(args, start, end)
 *   fault:  { kind, fault ('exit' | 'oom' | 'throw' | 'hang'), sleep, mainSleepMs, workerSleepMs }
 *           fault injection for the pool's crash tests: a worker thread that takes a task exits, exhausts its heap,
 *           throws or sleeps workerSleepMs; the calling thread sleeps mainSleepMs per task so workers take tasks
 */
export const RUNNER_SOURCE = `
function createRunner(wasm, MR, NR, inWorker) {
  const KC = 256;
  const MC = 64;
  const SLOTS = 4096;
  let f32 = new Float32Array(wasm.memory.buffer);
  let i32 = new Int32Array(wasm.memory.buffer);
  function ensure(bytes) {
    const have = wasm.memory.buffer.byteLength;
    if (bytes > have) wasm.memory.grow(Math.ceil((bytes - have) / 65536));
    if (f32.buffer !== wasm.memory.buffer) {
      f32 = new Float32Array(wasm.memory.buffer);
      i32 = new Int32Array(wasm.memory.buffer);
    }
  }
  const roundUp = (x, s) => Math.ceil(x / s) * s;

  // op(A) rows ic … ic + mc − 1 → MR-row panels at aBase (staged through the stage area)
  function packA(job, ao, ic, mc, aBase, stage) {
    const { a, m, k, tA } = job;
    if (!tA) {
      f32.set(a.subarray(ao + ic * k, ao + (ic + mc) * k), stage >> 2);
      wasm.pack(stage, k, 1, mc, k, MR, aBase);
      return;
    }
    for (let q = 0; q < k; q++) f32.set(a.subarray(ao + q * m + ic, ao + q * m + ic + mc), (stage >> 2) + q * mc);
    wasm.pack(stage, 1, mc, mc, k, MR, aBase);
  }

  // op(B) columns j0 … j0 + nc − 1 of the batch item at offset bo → NR-column panels, copied into the array into at index at
  function packB(b, bo, k, n, tB, j0, nc, into, at) {
    const np = roundUp(nc, NR);
    const stage = k * np * 4;
    ensure(stage + k * nc * 4);
    if (tB) {
      f32.set(b.subarray(bo + j0 * k, bo + (j0 + nc) * k), stage >> 2);
      wasm.pack(stage, k, 1, nc, k, NR, 0);
    } else {
      for (let q = 0; q < k; q++) f32.set(b.subarray(bo + q * n + j0, bo + q * n + j0 + nc), (stage >> 2) + q * nc);
      wasm.pack(stage, 1, nc, nc, k, NR, 0);
    }
    into.set(f32.subarray(0, k * np), at);
    loadedPanels = null;
  }

  let loadedPanels = null;
  let loadedRegion = -1;

  function matmulTask(job, t) {
    const { m, k, n, out, bias, tilesM, tilesN, tileM, tileN, panels, panelRegion, regionSize } = job;
    const it = t % tilesM;
    const pj = (t - it) / tilesM;
    const jt = pj % tilesN;
    const p = (pj - jt) / tilesN;
    const i0 = it * tileM;
    const j0 = jt * tileN;
    const i1 = Math.min(m, i0 + tileM);
    const nc = Math.min(n, j0 + tileN) - j0;
    const np = roundUp(nc, NR);
    const ao = job.aOffsets[p];
    const oo = p * m * n;
    const bBase = 0;
    const aBase = bBase + regionSize * 4;
    const cBase = aBase + roundUp(MC, MR) * k * 4;
    const stage = cBase + roundUp(MC, MR) * np * 4;
    ensure(stage + MC * k * 4);
    // B was packed once by the caller ([k][NR] panels per column tile); copy this tile's panels in unless the
    // previous task of this job already did
    const region = panelRegion[p] * tilesN + jt;
    if (loadedPanels !== panels || loadedRegion !== region) {
      f32.set(panels.subarray(region * regionSize, region * regionSize + k * np), bBase >> 2);
      loadedPanels = panels;
      loadedRegion = region;
    }
    for (let ic = i0; ic < i1; ic += MC) {
      const mc = Math.min(MC, i1 - ic);
      const mp = roundUp(mc, MR);
      packA(job, ao, ic, mc, aBase, stage);
      const c0 = cBase >> 2;
      // a fused bias starts every C row at bias (then gemm accumulates); else the first K block overwrites C
      if (bias) {
        for (let r = 0; r < mc; r++) {
          f32.set(bias.subarray(j0, j0 + nc), c0 + r * np);
          f32.fill(0, c0 + r * np + nc, c0 + (r + 1) * np); // padding cells: no stale (denormal) values
        }
        f32.fill(0, c0 + mc * np, c0 + mp * np);
      }
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        const acc = pc > 0 || bias ? 1 : 0;
        wasm.gemm(aBase + pc * MR * 4, k * MR * 4, bBase + pc * NR * 4, k * NR * 4, cBase, mp, np, kc, acc);
      }
      for (let r = 0; r < mc; r++) {
        out.set(f32.subarray(c0 + r * np, c0 + r * np + nc), oo + (ic + r) * n + j0);
      }
    }
  }

  function sampleTask(job, t) {
    const { logits, n, k0, k1, offset, invT, t0, chunk, chunksPerRow, cap, stride } = job;
    const r = Math.floor(t / chunksPerRow);
    const c0 = (t - r * chunksPerRow) * chunk;
    const c1 = Math.min(n, c0 + chunk);
    const candBase = 0;
    const lp = candBase + cap * 8;
    ensure(lp + (SLOTS + 16) * 4);
    wasm.gumbelReset(candBase, cap, t0);
    const rowPos = offset + r * n;
    let count = 0;
    for (let c = c0; c < c1; ) {
      const pos = rowPos + c;
      const h = pos % 16;
      const len = Math.min(c1 - c, SLOTS - h);
      const l = lp >> 2;
      f32.fill(-Infinity, l, l + h);
      f32.set(logits.subarray(r * n + c, r * n + c + len), l + h);
      const groups = Math.ceil((h + len) / 16);
      f32.fill(-Infinity, l + h + len, l + groups * 16);
      const block = (pos - h) / 4;
      count = wasm.gumbel(lp, groups, block % 4294967296, Math.floor(block / 4294967296), k0, k1, invT, c - h);
      c += len;
    }
    if (wasm.gumbelSawNaN()) job.nan[0] = 1;
    const at = t * stride;
    job.cand[at] = count;
    if (count > 0) job.cand.set(i32.subarray(candBase >> 2, (candBase >> 2) + 2 * count), at + 1);
  }

  const RANDOM_SLICE = 4096; // elements per wasm call: 16 or 32 KB of scratch, stays in L1/L2
  function randomTask(job, t) {
    const { kernel, out, k0, k1, offset, count, chunk } = job;
    const view = out.BYTES_PER_ELEMENT === 8 ? 'f64' : 'f32';
    ensure(RANDOM_SLICE * 8); // RANDOM_SLICE is a multiple of 32: whole group pairs fit
    const scratch = view === 'f64' ? new Float64Array(wasm.memory.buffer) : f32;
    const e1 = Math.min(count, (t + 1) * chunk);
    for (let e = t * chunk; e < e1; ) {
      const pos = offset + e;
      const h = pos % 4;
      const len = Math.min(e1 - e, RANDOM_SLICE - h);
      const block = (pos - h) / 4;
      const groups = 2 * Math.ceil((h + len) / 32); // the kernels take pairs of 4-block groups
      wasm[kernel](0, groups, block % 4294967296, Math.floor(block / 4294967296), k0, k1);
      out.set(scratch.subarray(h, h + len), e);
      e += len;
    }
  }

  const rangeKernels = new Map();
  function jsTask(job, t) {
    let f = rangeKernels.get(job.source);
    if (!f) {
      f = new Function('return (' + job.source + ');')();
      rangeKernels.set(job.source, f);
    }
    const start = t * job.chunk;
    f(job.args, start, Math.min(job.count, start + job.chunk));
  }

  function faultTask(job) {
    if (!inWorker) {
      Atomics.wait(job.sleep, 0, 0, job.mainSleepMs);
      return;
    }
    if (job.fault === 'exit') {
      if (typeof process === 'object') process.exit(1);
      else self.close();
    }
    if (job.fault === 'hang') {
      Atomics.wait(job.sleep, 0, 0, job.workerSleepMs);
      return;
    }
    if (job.fault === 'oom') {
      const hoard = [];
      for (;;) hoard.push(new Array(1 << 16).fill(hoard.length));
    }
    throw new Error('injected fault');
  }

  return {
    run(job, t) {
      if (job.kind === 'matmul') matmulTask(job, t);
      else if (job.kind === 'sample') sampleTask(job, t);
      else if (job.kind === 'random') randomTask(job, t);
      else if (job.kind === 'js') jsTask(job, t);
      else faultTask(job);
    },
    packB,
  };
}
`;

/**
 * Control words of one job (an Int32Array over a SharedArrayBuffer): the next task index, how many workers are
 * done, whether one failed, how many tasks completed, then one done flag per worker slot.
 */
export const CTL = { next: 0, done: 1, failed: 2, completed: 3, slots: 4 } as const;

/**
 * Message loop of a worker: one wasm instance, then jobs shared through SharedArrayBuffers. In Node the worker
 * gets its job port through workerData (its parent is the pool's supervisor thread); in a browser it listens on
 * its own global scope.
 */
export const WORKER_SOURCE = `${RUNNER_SOURCE}
const nodeThreads = typeof require === 'function' ? require('node:worker_threads') : null;
const port = nodeThreads ? nodeThreads.workerData.port : self;
let run = null;
function onJob(data) {
  if (data.init) {
    run = createRunner(new WebAssembly.Instance(data.module, {}).exports, data.mr, data.nr, true).run;
    Atomics.store(data.ready, data.slot, 1);
    Atomics.notify(data.ready, data.slot);
    return;
  }
  const { job, ctl, slot } = data;
  try {
    for (;;) {
      const t = Atomics.add(ctl, ${CTL.next}, 1);
      if (t >= job.tasks) break;
      run(job, t);
      Atomics.add(ctl, ${CTL.completed}, 1);
    }
  } catch (error) {
    Atomics.store(ctl, ${CTL.failed}, 1);
    Atomics.store(ctl, ${CTL.next}, job.tasks);
    console.error('duality cpu worker:', error);
  } finally {
    Atomics.store(ctl, ${CTL.slots} + slot, 1);
    Atomics.add(ctl, ${CTL.done}, 1);
    Atomics.notify(ctl, ${CTL.done});
  }
}
if (nodeThreads) port.on('message', onJob);
else port.onmessage = (event) => onJob(event.data);
`;

/**
 * The supervisor thread of the Node pool: the parent of the workers, so it receives their 'exit' events on an
 * event loop that is never blocked (the calling thread may be waiting in Atomics.wait), and records each death in
 * the shared status words, status[i] = 1, which the waiting caller checks between bounded waits. Messages:
 * { source, status, ports, resourceLimits } once (one job port per worker), then { terminate: i, afterMs } (tests).
 */
export const SUPERVISOR_SOURCE = `
const { parentPort, Worker } = require('node:worker_threads');
const workers = [];
parentPort.on('message', (message) => {
  if (message.terminate !== undefined) {
    setTimeout(() => workers[message.terminate]?.terminate(), message.afterMs ?? 0);
    return;
  }
  const { source, status, ports, resourceLimits } = message;
  ports.forEach((port, i) => {
    const worker = new Worker(source, { eval: true, workerData: { port }, transferList: [port], resourceLimits });
    worker.on('error', (error) => console.error('duality cpu worker ' + i + ' died:', error.message));
    worker.on('exit', () => {
      Atomics.store(status, i, 1);
      Atomics.notify(status, i);
    });
    workers[i] = worker;
  });
});
`;
