/**
 * The cpu backend in a Web Worker: the whole sampling loop runs here and posts every intermediate state, so
 * the page never freezes. The kernels' worker pool blocks in Atomics.wait, which a worker may do; it needs
 * SharedArrayBuffer, i.e. a cross-origin-isolated page (the COOP/COEP headers of vite.config.ts). Without
 * isolation the backend runs inline (threads: 0).
 */
import { type Backend, createBackend } from '@duality/kernels';
import { fetchModelFiles } from './model-source';
import type { FromWorker, ToWorker } from './protocol';
import { denoise, type LoadedModel, loadModel } from './sampling';

const scope = self as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  crossOriginIsolated?: boolean;
  navigator: { hardwareConcurrency?: number };
};

const threads = scope.crossOriginIsolated ? Math.max(1, scope.navigator.hardwareConcurrency ?? 1) : 0;
const describe = `cpu (Web Worker, ${threads > 1 ? `${threads} threads` : 'inline, 1 thread'})`;

let backend: Promise<Backend> | undefined;
/** The model of the last run, kept while the next run asks for the same file. */
let cached: { url: string; loaded: Promise<LoadedModel> } | undefined;
const running = new Map<number, AbortController>();
/** Runs one after another: a cancelled run stops at its next step before the next one starts. */
let queue: Promise<void> = Promise.resolve();
const cancelled = new Set<number>();

async function modelFor(message: Extract<ToWorker, { type: 'sample' }>): Promise<LoadedModel> {
  if (cached?.url === message.fileUrl) return cached.loaded;
  cached?.loaded.then((m) => m.model.dispose()).catch(() => undefined);
  backend ??= createBackend('cpu', { threads });
  const cpu = await backend;
  const loaded = fetchModelFiles(message.fileUrl, message.configUrl).then((files) =>
    loadModel(cpu, message.entry, files.bytes, files.config),
  );
  cached = { url: message.fileUrl, loaded };
  loaded.catch(() => {
    if (cached?.loaded === loaded) cached = undefined;
  });
  return loaded;
}

async function sample(message: Extract<ToWorker, { type: 'sample' }>): Promise<void> {
  const { run } = message;
  const controller = new AbortController();
  if (cancelled.delete(run)) return;
  running.set(run, controller);
  try {
    scope.postMessage({ type: 'loading', run, what: message.entry.name });
    const t0 = performance.now();
    const loaded = await modelFor(message);
    scope.postMessage({ type: 'loaded', run, loadMs: performance.now() - t0, backend: describe });
    for await (const frame of denoise(loaded, message.settings, controller.signal)) {
      scope.postMessage({ type: 'frame', run, frame });
    }
    scope.postMessage({ type: 'done', run });
  } catch (error) {
    if (!controller.signal.aborted)
      scope.postMessage({
        type: 'error',
        run,
        message: error instanceof Error ? error.message : String(error),
      });
  } finally {
    running.delete(run);
  }
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === 'cancel') {
    const controller = running.get(message.run);
    if (controller) controller.abort();
    else cancelled.add(message.run); // still queued
  } else {
    queue = queue.then(() => sample(message));
  }
};
