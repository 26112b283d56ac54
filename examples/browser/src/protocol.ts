/** Messages between the page and the cpu Web Worker (src/worker.ts). */
import type { ModelEntry } from './manifest';
import type { Frame, SampleSettings } from './sampling';

export type ToWorker =
  | {
      type: 'sample';
      /** Run id: replies carry it, so the page ignores frames of a run it cancelled. */
      run: number;
      entry: ModelEntry;
      /** Absolute URLs (the worker's base URL is its own script's). */
      fileUrl: string;
      configUrl?: string;
      settings: SampleSettings;
    }
  | { type: 'cancel'; run: number };

export type FromWorker =
  | { type: 'loading'; run: number; what: string }
  | { type: 'loaded'; run: number; loadMs: number; backend: string }
  | { type: 'frame'; run: number; frame: Frame }
  | { type: 'done'; run: number }
  | { type: 'error'; run: number; message: string };
