/**
 * f32 WGSL kernels of losses.ts, one invocation per token row, mirroring losses/row-maths.ts. The constant `MODE` is
 * 0u (write the value per row) or 1u (write ∂/∂logits scaled by the row's upstream gradient gy).
 */
export const WG = 64;

const HEADER = /* wgsl */ `
struct Params { rows: u32, k: u32, gridX: u32, extra: i32 }
fn rowIndex(gid: vec3<u32>) -> u32 { return gid.x + gid.y * params.gridX * ${WG}u; }
`;

/** Read-only storage bindings in order, then `out` and the uniform `params`, then HEADER. */
function bindings(reads: readonly (readonly [name: string, type: 'f32' | 'i32'])[]): string {
  const lines = reads.map(
    ([name, type], i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${type}>;`,
  );
  lines.push(`@group(0) @binding(${reads.length}) var<storage, read_write> out: array<f32>;`);
  lines.push(`@group(0) @binding(${reads.length + 1}) var<uniform> params: Params;`);
  return `\n${lines.join('\n')}\n${HEADER}`;
}

/** The entry point's opening: row r (out-of-range invocations return), row width k, row offset base. */
const MAIN = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = rowIndex(gid);
  if (r >= params.rows) { return; }
  let k = params.k;
  let base = r * k;`;

/** `let name = log Σ_j exp(arr[base + j])` over the entries where `keep` holds, max-shifted for stability. */
function rowLogSumExp(name: string, arr: string, keep = 'true'): string {
  return /* wgsl */ `
  var ${name}Max = -3.0e38;
  for (var j = 0u; j < k; j++) { if (${keep}) { ${name}Max = max(${name}Max, ${arr}[base + j]); } }
  var ${name}Sum = 0.0;
  for (var j = 0u; j < k; j++) { if (${keep}) { ${name}Sum += exp(${arr}[base + j] - ${name}Max); } }
  let ${name} = ${name}Max + log(${name}Sum);`;
}

export const MDLM_WGSL = /* wgsl */ `${bindings([
  ['z', 'f32'],
  ['xt', 'i32'],
  ['x0', 'i32'],
  ['w', 'f32'],
  ['gy', 'f32'],
])}${MAIN}
  let mask = params.extra;
  let masked = xt[r] == mask;
  if (MODE == 0u) {
    if (!masked) { out[r] = 0.0; return; }
  } else if (!masked) {
    for (var j = 0u; j < k; j++) { out[base + j] = 0.0; }
    return;
  }${rowLogSumExp('lse', 'z', 'i32(j) != mask')}
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

/** DUO's ∂/∂z_m factor g_m of entry mm (with pM, eM in scope), shared by the mean pass and the write pass. */
const DUO_GRAD_FACTOR = /* wgsl */ `
    let pM = exp(z[base + mm] - lse);
    var eM = 0.0;
    if (mm == t0) { eM = 1.0; }
    var g = (beta + ka * eM) / xbarI / (beta + ka * pM);
    if (mm == i) { g += (f32(k) * ka * eMinusP) / (xbarI * xbarThetaI * xbarThetaI); }`;

export const DUO_WGSL = /* wgsl */ `${bindings([
  ['z', 'f32'],
  ['xt', 'i32'],
  ['x0', 'i32'],
  ['alphaT', 'f32'],
  ['dalphaT', 'f32'],
  ['gy', 'f32'],
])}
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
}${MAIN}
  let i = u32(clamp(xt[r], 0, i32(k) - 1));
  let t0 = u32(clamp(x0[r], 0, i32(k) - 1));${rowLogSumExp('lse', 'z')}
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
  for (var mm = 0u; mm < k; mm++) {${DUO_GRAD_FACTOR}
    mean += pM * da * g;
  }
  let up = gy[r];
  for (var mm = 0u; mm < k; mm++) {${DUO_GRAD_FACTOR}
    out[base + mm] = pM * (da * g - mean) * up;
  }
}`;

export const KL_WGSL = /* wgsl */ `${bindings([
  ['s', 'f32'],
  ['t', 'f32'],
  ['gy', 'f32'],
])}${MAIN}${rowLogSumExp('lseS', 's')}${rowLogSumExp('lseT', 't')}
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
