/**
 * f32 WGSL kernels of losses.ts, one invocation per token row, mirroring losses/row-maths.ts. The constant `MODE` is
 * 0u (write the value per row) or 1u (write ∂/∂logits scaled by the row's upstream gradient gy).
 */
export const WG = 64;

const HEADER = /* wgsl */ `
struct Params { rows: u32, k: u32, gridX: u32, extra: i32 }
fn rowIndex(gid: vec3<u32>) -> u32 { return gid.x + gid.y * params.gridX * ${WG}u; }
`;

export const MDLM_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> xt: array<i32>;
@group(0) @binding(2) var<storage, read> x0: array<i32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${HEADER}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rowIndex(gid);
  if (r >= params.rows) { return; }
  let k = params.k;
  let base = r * k;
  let mask = params.extra;
  let masked = xt[r] == mask;
  if (MODE == 0u) {
    if (!masked) { out[r] = 0.0; return; }
  } else if (!masked) {
    for (var j = 0u; j < k; j++) { out[base + j] = 0.0; }
    return;
  }
  var m = -3.0e38;
  for (var j = 0u; j < k; j++) { if (i32(j) != mask) { m = max(m, z[base + j]); } }
  var s = 0.0;
  for (var j = 0u; j < k; j++) { if (i32(j) != mask) { s += exp(z[base + j] - m); } }
  let lse = m + log(s);
  let wr = w[r];
  let goal = u32(clamp(x0[r], 0, i32(k) - 1));
  if (MODE == 0u) { out[r] = wr * (z[base + goal] - lse); return; }
  let g = gy[r];
  for (var j = 0u; j < k; j++) {
    var v = 0.0;
    if (i32(j) != mask) { v = -wr * exp(z[base + j] - lse); }
    if (j == goal) { v += wr; }
    out[base + j] = v * g;
  }
}`;

export const DUO_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> xt: array<i32>;
@group(0) @binding(2) var<storage, read> x0: array<i32>;
@group(0) @binding(3) var<storage, read> alphaT: array<f32>;
@group(0) @binding(4) var<storage, read> dalphaT: array<f32>;
@group(0) @binding(5) var<storage, read> gy: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;
${HEADER}
// φ(d) = d − log(1 + d), by its series below |d| = 0.1 (as maths/nelbo.ts dMinusLog1p)
fn phi(d: f32, onePlusD: f32) -> f32 {
  if (abs(d) >= 0.1) { return d - log(onePlusD); }
  var power = d * d;
  var sum = 0.0;
  for (var n = 2u; n < 12u; n++) {
    if (n % 2u == 0u) { sum += power / f32(n); } else { sum -= power / f32(n); }
    power *= d;
  }
  return sum;
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rowIndex(gid);
  if (r >= params.rows) { return; }
  let k = params.k;
  let base = r * k;
  let i = u32(clamp(xt[r], 0, i32(k) - 1));
  let t0 = u32(clamp(x0[r], 0, i32(k) - 1));
  var m = -3.0e38;
  for (var j = 0u; j < k; j++) { m = max(m, z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < k; j++) { s += exp(z[base + j] - m); }
  let lse = m + log(s);
  let alpha = alphaT[r];
  let da = dalphaT[r];
  let beta = 1.0 - alpha;
  let ka = f32(k) * alpha;
  let pI = exp(z[base + i] - lse);
  var eI = 0.0;
  if (i == t0) { eI = 1.0; }
  // 1 − p_i as the mass of the other entries (no cancellation)
  var rest = 0.0;
  for (var j = 0u; j < k; j++) { if (j != i) { rest += exp(z[base + j] - lse); } }
  var gapI = pI;
  if (eI == 1.0) { gapI = -rest; }
  let xbarI = beta + ka * eI;
  let xbarThetaI = beta + ka * pI;
  if (MODE == 0u) {
    var total = 0.0;
    for (var j = 0u; j < k; j++) {
      if (j == i) { continue; }
      let pJ = exp(z[base + j] - lse);
      var eJ = 0.0;
      if (j == t0) { eJ = 1.0; }
      var gapJ = pJ;
      if (eJ == 1.0) { gapJ = pJ - 1.0; }
      let xbarJ = beta + ka * eJ;
      let xbarThetaJ = beta + ka * pJ;
      let num = beta * ka * (gapJ - gapI) + ka * ka * (pJ * eI - eJ * pI);
      let den = xbarJ * xbarThetaI;
      total += (xbarJ / xbarI) * phi(num / den, (xbarThetaJ * xbarI) / den);
    }
    out[r] = (-da / ka) * total;
    return;
  }
  var eMinusP = -pI;
  if (eI == 1.0) { eMinusP = rest; }
  var mean = 0.0;
  for (var mm = 0u; mm < k; mm++) {
    let pM = exp(z[base + mm] - lse);
    var eM = 0.0;
    if (mm == t0) { eM = 1.0; }
    var g = (beta + ka * eM) / xbarI / (beta + ka * pM);
    if (mm == i) { g += (f32(k) * ka * eMinusP) / (xbarI * xbarThetaI * xbarThetaI); }
    mean += pM * da * g;
  }
  let up = gy[r];
  for (var mm = 0u; mm < k; mm++) {
    let pM = exp(z[base + mm] - lse);
    var eM = 0.0;
    if (mm == t0) { eM = 1.0; }
    var g = (beta + ka * eM) / xbarI / (beta + ka * pM);
    if (mm == i) { g += (f32(k) * ka * eMinusP) / (xbarI * xbarThetaI * xbarThetaI); }
    out[base + mm] = pM * (da * g - mean) * up;
  }
}`;

export const KL_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
${HEADER}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rowIndex(gid);
  if (r >= params.rows) { return; }
  let k = params.k;
  let base = r * k;
  var ms = -3.0e38;
  var mt = -3.0e38;
  for (var j = 0u; j < k; j++) { ms = max(ms, s[base + j]); mt = max(mt, t[base + j]); }
  var ss = 0.0;
  var st = 0.0;
  for (var j = 0u; j < k; j++) { ss += exp(s[base + j] - ms); st += exp(t[base + j] - mt); }
  let lseS = ms + log(ss);
  let lseT = mt + log(st);
  var kl = 0.0;
  for (var j = 0u; j < k; j++) {
    let ls = s[base + j] - lseS;
    let lt = t[base + j] - lseT;
    if (params.extra == 0) { kl += exp(ls) * (ls - lt); } else { kl += exp(lt) * (lt - ls); }
  }
  if (MODE == 0u) { out[r] = kl; return; }
  let up = gy[r];
  for (var j = 0u; j < k; j++) {
    let ls = s[base + j] - lseS;
    let lt = t[base + j] - lseT;
    if (params.extra == 0) { out[base + j] = exp(ls) * (ls - lt - kl) * up; }
    else { out[base + j] = (exp(ls) - exp(lt)) * up; }
  }
}`;
