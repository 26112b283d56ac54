/**
 * Whether this context may compile JavaScript from strings: a page whose Content-Security-Policy has no
 * 'unsafe-eval', a browser extension, an edge runtime or Node's --disallow-code-generation-from-strings forbid
 * it. The cpu backend then runs every kernel's own function on the calling thread (parallel.ts) and its JS paths
 * in place of the wasm runner, whose text is compiled (pool.ts): the same results, one thread.
 */
let allowed: boolean | undefined;

export function codeGenerationAllowed(): boolean {
  if (allowed === undefined) {
    try {
      allowed = new Function('return 1')() === 1;
    } catch {
      allowed = false;
    }
  }
  return allowed;
}

/** What the cpu backend says once when it runs single-threaded for that reason. */
export const CODEGEN_LIMIT =
  'code generation from strings is disallowed here (a Content-Security-Policy without unsafe-eval, or a runtime flag): the worker pool and the wasm kernels need it, the JS kernels run';
