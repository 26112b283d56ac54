/** Fetching a manifest entry's files (safetensors bytes and an optional reference config JSON). */
import type { ModelEntry } from './manifest';

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetch ${url}: got HTTP ${response.status}, expected 200`);
  return response;
}

export interface ModelFiles {
  bytes: Uint8Array;
  config?: Record<string, unknown>;
}

/** Downloads the weights (and config) of `entry`; URLs are absolute or relative to the document. */
export async function fetchModelFiles(fileUrl: string, configUrl?: string): Promise<ModelFiles> {
  const [weights, config] = await Promise.all([
    fetchOk(fileUrl).then((r) => r.arrayBuffer()),
    configUrl ? fetchOk(configUrl).then((r) => r.json() as Promise<Record<string, unknown>>) : undefined,
  ]);
  return { bytes: new Uint8Array(weights), config };
}

/** Absolute URLs of an entry's files, resolved against the manifest's URL. */
export function entryUrls(entry: ModelEntry, manifestUrl: string): { fileUrl: string; configUrl?: string } {
  return {
    fileUrl: new URL(entry.file, manifestUrl).href,
    configUrl: entry.config ? new URL(entry.config, manifestUrl).href : undefined,
  };
}
