/**
 * Where sampling runs: the webgpu backend on the page's thread (GPU work is asynchronous, the page stays
 * responsive), or the cpu backend in a Web Worker (the whole loop there, each state posted back).
 */
import { type Backend, createBackend, isWebGPUBackend } from '@duality/kernels';
import type { ModelEntry } from './manifest';
import { fetchModelFiles } from './model-source';
import type { FromWorker, ToWorker } from './protocol';
import { denoise, type Frame, type LoadedModel, loadModel, type SampleSettings } from './sampling';

export interface RunRequest {
  entry: ModelEntry;
  fileUrl: string;
  configUrl?: string;
  settings: SampleSettings;
  signal: AbortSignal;
  onLoaded(info: { loadMs: number; backend: string }): void;
  onFrame(frame: Frame): void;
}

export interface Runner {
  readonly kind: 'webgpu' | 'cpu';
  /** Resolves when the run ended (rejects on an error; a cancelled run resolves). */
  run(request: RunRequest): Promise<void>;
}

/** "webgpu · vendor architecture · description" from the device's GPUAdapterInfo. */
export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'webgpu (adapter info unavailable)';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((p) => p);
  return `webgpu · ${parts.length ? parts.join(' · ') : 'unnamed adapter'}`;
}

/** The webgpu backend on this thread; one model kept loaded per file. */
export class WebGPURunner implements Runner {
  readonly kind = 'webgpu';
  readonly backend: Backend;
  readonly description: string;
  private cached?: { url: string; loaded: Promise<LoadedModel> };
  private queue: Promise<void> = Promise.resolve();

  private constructor(backend: Backend, description: string) {
    this.backend = backend;
    this.description = description;
  }

  /** Throws WebGPUUnavailableError (from @duality/kernels) when the browser has no adapter. */
  static async create(): Promise<WebGPURunner> {
    const backend = await createBackend('webgpu');
    const info = isWebGPUBackend(backend) ? backend.device.adapterInfo : undefined;
    return new WebGPURunner(backend, describeAdapter(info));
  }

  private model(request: RunRequest): Promise<LoadedModel> {
    if (this.cached?.url === request.fileUrl) return this.cached.loaded;
    this.cached?.loaded.then((m) => m.model.dispose()).catch(() => undefined);
    const loaded = fetchModelFiles(request.fileUrl, request.configUrl).then((files) =>
      loadModel(this.backend, request.entry, files.bytes, files.config),
    );
    const cached = { url: request.fileUrl, loaded };
    this.cached = cached;
    loaded.catch(() => {
      if (this.cached === cached) this.cached = undefined;
    });
    return loaded;
  }

  /** Runs after the previous run has stopped (a cancelled run stops at its next step). */
  run(request: RunRequest): Promise<void> {
    const next = this.queue.then(() => this.runNow(request));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(request: RunRequest): Promise<void> {
    if (request.signal.aborted) return;
    const t0 = performance.now();
    const loaded = await this.model(request);
    request.onLoaded({ loadMs: performance.now() - t0, backend: this.description });
    try {
      for await (const frame of denoise(loaded, request.settings, request.signal)) request.onFrame(frame);
    } catch (error) {
      if (!request.signal.aborted) throw error;
    }
  }
}

/** The cpu backend in a module Web Worker (src/worker.ts). */
export class WorkerRunner implements Runner {
  readonly kind = 'cpu';
  private readonly worker: Worker;
  private nextRun = 1;
  private readonly pending = new Map<
    number,
    { request: RunRequest; resolve: () => void; reject: (e: Error) => void }
  >();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), {
      type: 'module',
      name: 'duality-cpu',
    });
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => this.receive(event.data);
    this.worker.onerror = (event) => {
      const error = new Error(`the cpu worker failed: ${event.message || 'could not start'}`);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  run(request: RunRequest): Promise<void> {
    const run = this.nextRun++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(run, { request, resolve, reject });
      const { entry, fileUrl, configUrl, settings } = request;
      this.post({ type: 'sample', run, entry, fileUrl, configUrl, settings });
      request.signal.addEventListener(
        'abort',
        () => {
          this.post({ type: 'cancel', run });
          this.pending.delete(run);
          resolve();
        },
        { once: true },
      );
    });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    const p = this.pending.get(message.run);
    if (!p) return; // a cancelled run's late messages
    if (message.type === 'loaded') p.request.onLoaded(message);
    else if (message.type === 'frame') p.request.onFrame(message.frame);
    else if (message.type === 'done' || message.type === 'error') {
      this.pending.delete(message.run);
      if (message.type === 'done') p.resolve();
      else p.reject(new Error(message.message));
    }
  }
}
