/**
 * A minimal protocol-2 pickler for tests: writes None, bool, int, float, str, bytes (protocol-3 opcodes), lists,
 * tuples (as `{ tuple: [...] }`) and dicts (Maps) the way CPython does, plus raw opcodes for hand-made streams.
 */
export type Picklable =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Picklable[]
  | { tuple: Picklable[] }
  | Map<string | number, Picklable>;

export class PickleWriter {
  private readonly parts: number[] = [];
  private memo = 0;

  op(...bytes: number[]): this {
    this.parts.push(...bytes);
    return this;
  }
  u32(n: number): this {
    return this.op(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
  }
  text(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58)
      .u32(b.length)
      .op(...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  put(): this {
    const m = this.memo++;
    return m < 256 ? this.op(0x71, m) : this.op(0x72).u32(m);
  }

  value(v: Picklable): this {
    if (v === null) return this.op(0x4e);
    if (v === true) return this.op(0x88);
    if (v === false) return this.op(0x89);
    if (typeof v === 'number') {
      if (Object.is(v, -0)) return this.op(0x47, 0x80, 0, 0, 0, 0, 0, 0, 0); // -0.0 is a float
      if (Number.isInteger(v) && v >= 0 && v < 256) return this.op(0x4b, v);
      if (Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return this.op(0x4a).u32(v >>> 0);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, false);
      return this.op(0x47, ...b);
    }
    if (typeof v === 'string') return this.text(v).put();
    if (v instanceof Uint8Array)
      return this.op(0x42)
        .u32(v.length)
        .op(...v);
    if (Array.isArray(v)) {
      this.op(0x5d).put();
      if (v.length === 0) return this;
      this.op(0x28);
      for (const x of v) this.value(x);
      return this.op(0x65);
    }
    if (v instanceof Map) {
      this.op(0x7d).put();
      if (v.size === 0) return this;
      this.op(0x28);
      for (const [k, x] of v) this.value(k).value(x);
      return this.op(0x75);
    }
    this.op(0x28);
    for (const x of v.tuple) this.value(x);
    return this.op(0x74).put();
  }

  /** PROTO 2 … STOP around the value. */
  static dumps(v: Picklable): Uint8Array {
    return new PickleWriter().op(0x80, 2).value(v).op(0x2e).bytes();
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}
