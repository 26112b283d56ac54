/**
 * Philox-4x32-10 as a plain WGSL snippet, for `defineOp` webgpu kernels (`ctx.run`) here and in other packages:
 * defines `mulhilo(a, b) -> vec2<u32>` (high word, low word of the 32×32→64 product, by 16-bit halves) and
 * `philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32>`, bit-identical to philox.ts (the stream layout is the
 * caller's: block floor(e/4), word e mod 4, key = philoxKey(seed); STREAM_WGSL below spells it out).
 */
export const PHILOX_WGSL = /* wgsl */ `
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let lh = al * bh; let hl = ah * bl; let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2<u32>(hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), a * b);
}
fn philox(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
  var x = c; var key = k;
  for (var i = 0u; i < 10u; i++) {
    let p0 = mulhilo(0xD2511F53u, x.x);
    let p1 = mulhilo(0xCD9E8D57u, x.z);
    x = vec4<u32>(p1.x ^ x.y ^ key.x, p1.y, p0.x ^ x.w ^ key.y, p0.y);
    key = key + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return x;
}
`;

/**
 * PHILOX_WGSL plus the stream of a kernel: `streamWord(lo, hi, key)` is word e = hi·2^32 + lo of the stream with
 * key (k0, k1) (block e >> 2, word e & 3, as `streamWordAt`), `wordToUniform(w)` the f32 uniform of a word, as
 * the host's ((w >> 9) + 0.5)·2^-23, and `add64(lo, hi, n)` the 64-bit element (lo, hi) + n as vec2(lo, hi).
 */
export const STREAM_WGSL = /* wgsl */ `${PHILOX_WGSL}
fn streamWord(lo: u32, hi: u32, key: vec2<u32>) -> u32 {
  let block = philox(vec4<u32>((lo >> 2u) | (hi << 30u), hi >> 2u, 0u, 0u), key);
  return block[lo & 3u];
}
fn wordToUniform(w: u32) -> f32 { return (f32(w >> 9u) + 0.5) * 1.1920928955078125e-7; }
fn add64(lo: u32, hi: u32, n: u32) -> vec2<u32> {
  let sum = lo + n;
  return vec2<u32>(sum, hi + select(0u, 1u, sum < lo));
}
`;
