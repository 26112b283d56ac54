import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackend } from '@duality/kernels';
import {
  DiT,
  DiTDenoiser,
  ditConfig,
  initStateDict,
  loadDiT,
  parameterCount,
  saveDiT,
} from '@duality/models';
import { logLinear, masked } from '@duality/noise';
import { ancestralSampler } from '@duality/samplers';
import { createColors } from 'picocolors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, createProgram, type Io, processIo, run } from '../src/index';
import { renderRow, tokenView } from '../src/sample-view';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'duality-cli-'));

interface Captured {
  code: number;
  out: string;
  err: string;
}

/** Runs `duality <args>` in-process with captured streams (stdout a TTY or not). */
async function duality(
  args: string[],
  options: { tty?: boolean; ctrlCAfterWrites?: number } = {},
): Promise<Captured> {
  let out = '';
  let err = '';
  let writes = 0;
  const controller = new AbortController();
  const io: Io = {
    stdout: {
      write: (s: string) => {
        if (++writes === options.ctrlCAfterWrites) controller.abort(new Error('Ctrl-C'));
        out += s;
        return true;
      },
      isTTY: options.tty ?? false,
      columns: 100,
    },
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
      isTTY: false,
    },
    env: {},
    interrupt: () => controller.signal,
  };
  const code = await run(args, io);
  return { code, out, err };
}

const json = (c: Captured) => {
  expect(c.err).toBe('');
  expect(c.code).toBe(0);
  return JSON.parse(c.out);
};

/** One line "error: …" and nothing that looks like a stack trace. */
function expectOneErrorLine(c: Captured, code: number, pattern: RegExp) {
  expect(c.code).toBe(code);
  const lines = c.err.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(c.err).not.toMatch(/\n\s+at /);
}

const brown8Config = ditConfig({
  vocabSize: 28,
  hiddenSize: 16,
  condDim: 8,
  nHeads: 2,
  nBlocks: 1,
  length: 12,
  timeConditioning: false,
});
const brown8Model = join(dir, 'mdlm-brown8', 'model.safetensors');
const brown8Card = join(dir, 'mdlm-brown8-card.safetensors');

beforeAll(async () => {
  // a small masked (MDLM-style) brown8 model as saveDiT writes it, with the algo in its config metadata
  const backend = await createBackend('cpu', { threads: 0 });
  const model = await DiT.fromStateDict(
    backend,
    brown8Config,
    initStateDict(brown8Config, { seed: 5, scheme: 'normal', std: 0.15 }),
  );
  mkdirSync(join(dir, 'mdlm-brown8'));
  await saveDiT(model, brown8Model, { metadata: { tokenizer: 'brown8' } });
  model.dispose();
  backend.destroy();
  // the same weights with the algo in the config card (what convert --algo writes)
  const carded = await duality(['convert', brown8Model, brown8Card, '--algo', 'mdlm']);
  expect(carded.code).toBe(0);
  writeFileSync(
    join(dir, 'mdlm-brown8', 'state.json'),
    JSON.stringify({ step: 300, metrics: { valBpc: 2.1 } }),
  );
  writeFileSync(
    join(dir, 'mdlm-brown8', 'metrics.jsonl'),
    '{"step":100,"loss":3}\n{"step":300,"loss":2.5}\n',
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('duality: help and bad arguments', () => {
  it('has --help for the program and every command', async () => {
    const root = await duality(['--help']);
    expect(root.code).toBe(0);
    const names = createProgram(processIo()).program.commands.map((c) => c.name());
    expect(names).toHaveLength(COMMANDS.length);
    expect(names).toEqual(expect.arrayContaining(['sample', 'info', 'convert', 'bench']));
    for (const name of names) {
      expect(root.out).toContain(name);
      const help = await duality([name, '--help']);
      expect(help.code).toBe(0);
      expect(help.out).toContain(`Usage: duality ${name}`);
      expect(help.out).toContain('Examples:');
    }
  });

  it.each([
    [['sample'], /missing required argument 'checkpoint'/],
    [['sample', brown8Model, '--steps', '0'], /--steps.*integer ≥ 1/],
    [['sample', brown8Model, '--top-p', '1.5'], /--top-p.*\(0, 1\]/],
    [['sample', brown8Model, '--sampler', 'magic'], /--sampler.*Allowed choices/],
    [['--backend', 'tpu', 'info', brown8Model], /--backend.*Allowed choices/],
    [['--seed', '-3', 'info', brown8Model], /--seed.*integer ≥ 0/],
    [['info', brown8Model, '--frobnicate'], /unknown option '--frobnicate'/],
    [['smaple', brown8Model], /unknown command 'smaple'/],
    [['info', join(dir, 'nope.safetensors')], /no such file or directory/],
    [['sample', brown8Model, '--process', 'masked', '--kappa', 'max-capped-0.1'], /--sampler psi/],
    [
      ['sample', brown8Model, '--process', 'masked', '--sampler', 'psi', '--kappa', 'max-capped'],
      /parseKappaMode/,
    ],
    [
      ['sample', brown8Model, '--process', 'masked', '--tokenizer', 'gpt2'],
      /gpt2 \(50257 ids\) for a model of 28 ids/,
    ],
    [['sample', brown8Model], /--process masked \| uniform/],
    [
      ['sample', brown8Model, '--process', 'masked', '--length', '13'],
      /--length 13 > the model's context 12.*--stride/,
    ],
  ])('duality %j → exit 2 with one error line', async (args, pattern) => {
    expectOneErrorLine(await duality(args as string[]), 2, pattern as RegExp);
  });

  it('a corrupt checkpoint is exit 1 with one error line; no arguments prints the help with exit 2', async () => {
    const cut = join(dir, 'cut.ckpt');
    writeFileSync(cut, readFileSync(join(FIXTURES, 'lightning.ckpt')).subarray(0, 1000));
    expectOneErrorLine(await duality(['info', cut]), 1, /TorchArchiveError|truncated|zip/);
    const none = await duality([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: duality');
  });
});

describe('duality info', () => {
  it('describes a Lightning checkpoint: config, parameters, dtype, EMA, step, size', async () => {
    const d = json(await duality(['info', '--json', join(FIXTURES, 'lightning.ckpt')]));
    expect(d.kind).toBe('lightning');
    expect(d.config).toMatchObject({
      vocabSize: 29,
      hiddenSize: 24,
      nBlocks: 2,
      length: 10,
      timeConditioning: true,
    });
    expect(d.parameters).toBe(parameterCount(d.config));
    expect(d.dtypes).toEqual({ float32: 31 });
    expect(d.metadata).toMatchObject({ ema: '30 tensors', global_step: 1200, epoch: 0 });
    expect(d.reference.algo.name).toBe('duo');
    expect(d.bytes).toBe(statSync(join(FIXTURES, 'lightning.ckpt')).size);
    const text = await duality(['info', join(FIXTURES, 'lightning.ckpt')]);
    expect(text.out).toMatch(/parameters\s+25,701 \(25\.7 K\)/);
    expect(text.out).toMatch(/Lightning checkpoint, 456\.4 KiB/);
  });

  it('describes a sharded Hugging Face folder (all shards counted)', async () => {
    const hf = join(FIXTURES, 'hf');
    const d = json(await duality(['info', '--json', hf]));
    expect(d.kind).toBe('huggingface');
    expect(d.files).toHaveLength(3);
    expect(d.config.timeConditioning).toBe(false);
    expect(d.parameters).toBe(parameterCount(d.config));
    const shardBytes = ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']
      .map((f) => statSync(join(hf, f)).size)
      .reduce((a, b) => a + b, 0);
    expect(d.bytes).toBe(shardBytes);
  });

  it('describes a checkpoint directory with its tokenizer and the metrics beside the model', async () => {
    const d = json(await duality(['info', '--json', join(dir, 'mdlm-brown8')]));
    expect(d.kind).toBe('safetensors');
    expect(d.tokenizer).toBe('brown8');
    expect(d.config).toEqual(brown8Config);
    expect(d.parameters).toBe(parameterCount(brown8Config));
    expect(d.metrics['state.json']).toEqual({ step: 300, metrics: { valBpc: 2.1 } });
    expect(d.metrics['metrics.jsonl']).toEqual({ records: 2, last: { step: 300, loss: 2.5 } });
  });
});

describe('duality convert', () => {
  it('converts a .ckpt (EMA by default) to a file loadDiT reads, refuses to overwrite without --force', async () => {
    const out = join(dir, 'from-ckpt.safetensors');
    const summary = json(await duality(['--json', 'convert', join(FIXTURES, 'lightning.ckpt'), out]));
    expect(summary).toMatchObject({
      output: out,
      source: 'lightning',
      weights: 'ema',
      tensors: 31,
      verified: true,
    });
    const backend = await createBackend('cpu', { threads: 0 });
    const model = await loadDiT(backend, out);
    expect(model.config.vocabSize).toBe(29);
    model.dispose();
    backend.destroy();
    expectOneErrorLine(
      await duality(['convert', join(FIXTURES, 'lightning.ckpt'), out]),
      2,
      /exists.*--force/,
    );
    const again = await duality([
      'convert',
      '--force',
      '--weights',
      'raw',
      '--dtype',
      'bf16',
      join(FIXTURES, 'lightning.ckpt'),
      out,
    ]);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/wrote .* \(31 tensors, raw weights, lightning → safetensors\)/);
    const info = json(await duality(['info', '--json', out]));
    expect(info.dtypes).toEqual({ BF16: 30, F32: 1 }); // the rotary buffer stays F32
    expect(info.metadata.weights).toBe('raw');
  });

  it('keeps algo names of the reference it does not list (distillation, sedd) and samples by parameterization', async () => {
    const model = { hidden_size: 24, cond_dim: 16, length: 10, n_blocks: 2, n_heads: 2 };
    for (const [name, parameterization] of [
      ['distillation', 'mean'],
      ['sedd', 'score'],
    ]) {
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({ vocab_size: 29, model, algo: { name, parameterization, time_conditioning: true } }),
      );
      const out = join(dir, `${name}.safetensors`);
      const c = await duality(['convert', '--config', file, join(FIXTURES, 'lightning.ckpt'), out]);
      expect(c.code).toBe(0);
      const d = json(await duality(['info', '--json', out]));
      expect(d.reference.algo).toMatchObject({ name, parameterization });
    }
    expect(
      json(await duality(['--json', 'sample', join(dir, 'distillation.safetensors'), '--steps', '2']))
        .process,
    ).toBe('uniform');
    expectOneErrorLine(
      await duality(['sample', join(dir, 'sedd.safetensors')]),
      2,
      /parameterization "score" \(algo sedd\)/,
    );
    expectOneErrorLine(
      await duality([
        'convert',
        '--config',
        join(dir, 'nope.json'),
        join(FIXTURES, 'lightning.ckpt'),
        join(dir, 'x.safetensors'),
      ]),
      2,
      /nope\.json \(ENOENT\)/,
    );
  });

  it('converts a Hugging Face folder into a directory target', async () => {
    const target = join(dir, 'hf-out');
    mkdirSync(target);
    const c = await duality(['convert', join(FIXTURES, 'hf'), target]);
    expect(c.code).toBe(0);
    const d = json(await duality(['info', '--json', join(target, 'model.safetensors')]));
    expect(d.reference.algo).toMatchObject({
      name: 'mdlm',
      parameterization: 'subs',
      time_conditioning: false,
    });
  });
});

describe('duality sample', () => {
  it('gives the ids a direct sampler call gives for that seed (masked, brown8 text), deterministic', async () => {
    const args = ['--seed', '11', '--json', 'sample', brown8Card, '--steps', '6', '--batch', '3'];
    const a = json(await duality(args));
    const b = json(await duality(args));
    expect(a.ids).toEqual(b.ids);
    expect(a).toMatchObject({ process: 'masked', tokenizer: 'brown8', batch: 3, length: 12, steps: 6 });
    const backend = await createBackend('cpu');
    const model = await loadDiT(backend, brown8Card);
    const process = masked(backend, { vocabSize: 28, schedule: logLinear() });
    const ids = await ancestralSampler({ process, steps: 6 }).sample(
      new DiTDenoiser(model, { kind: 'subs', maskIndex: 27 }),
      {
        batch: 3,
        length: 12,
        seed: 11,
      },
    );
    const direct = Array.from(await ids.read());
    model.dispose();
    backend.destroy();
    expect(a.ids.flat()).toEqual(direct);
    const alphabet = 'abcdefghijklmnopqrstuvwxyz ';
    expect(a.text).toEqual(a.ids.map((row: number[]) => row.map((i) => alphabet[i]).join('')));
    expect(a.timings.stepsPerSecond).toBeGreaterThan(0);
    const other = json(await duality([...args.slice(0, 1), '12', ...args.slice(2)]));
    expect(other.ids).not.toEqual(a.ids);
  });

  it('Ctrl-C stops between steps: exit 130, one line, the view left as it was', async () => {
    const c = await duality(['sample', brown8Card, '--steps', '400'], { tty: true, ctrlCAfterWrites: 3 });
    expectOneErrorLine(c, 130, /^error: interrupted \(Ctrl-C\)$/);
    expect(c.out).not.toContain('done:');
  });

  it('a real Ctrl-C in a terminal (a pty through script(1)) stops the running bin with exit 130', async (ctx) => {
    if (!existsSync('/usr/bin/script')) {
      console.log('skipped: no /usr/bin/script (util-linux) to give the bin a terminal');
      ctx.skip();
    }
    const tsx = createRequire(import.meta.url).resolve('tsx'); // tsx's loader, which `--import` takes
    const bin = join(import.meta.dirname, '..', 'src', 'bin.ts');
    const cmd = `stty cols 100 rows 30; ${process.execPath} --conditions=@duality/source --import ${tsx} ${bin} sample ${brown8Card} --steps 100000`;
    const child = spawn('/usr/bin/script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!sent && out.includes('step 3/')) {
        sent = true;
        child.stdin.write('\u0003'); // the terminal turns it into SIGINT for the foreground process
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(timer);
    expect({ sent, code, tail: out.slice(-400) }).toMatchObject({ sent: true, code: 130 }); // tail: for a failure
    expect(out).toContain('error: interrupted (Ctrl-C)');
    expect(out).not.toContain('done:');
  });

  it('samples beyond the context in semi-autoregressive windows with --stride', async () => {
    const c = json(
      await duality(['--json', 'sample', brown8Card, '--steps', '2', '--length', '20', '--stride', '4']),
    );
    expect(c.ids[0]).toHaveLength(20);
    expect(c.text[0]).toMatch(/^[a-z ]{20}$/);
  });

  it('prints one plain line per sequence when stdout is not a terminal', async () => {
    const c = await duality(['sample', brown8Card, '--steps', '4', '--batch', '2']);
    expect(c.code).toBe(0);
    const lines = c.out.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^[a-z ]{12}$/);
    expect(c.out).not.toContain('\u001b['); // no escape codes in a pipe
  });

  it('redraws every step on a terminal and ends with the final text', async () => {
    const c = await duality(['sample', brown8Card, '--steps', '5'], { tty: true });
    expect(c.code).toBe(0);
    expect(c.out).toContain('step 1/');
    expect(c.out).toContain('step 5/');
    expect(c.out).toMatch(/done: \d+ steps in/);
    expect(c.out).toContain('\u001b['); // cursor movement / colours
  });

  it('samples a converted reference checkpoint directly: the Lightning .ckpt is uniform (Duo), the HF export masked', async () => {
    const duo = json(
      await duality([
        '--json',
        'sample',
        join(FIXTURES, 'lightning.ckpt'),
        '--steps',
        '3',
        '--sampler',
        'psi',
        '--kappa',
        'max-capped-0.05,pure-posterior,pure-pc',
      ]),
    );
    expect(duo.process).toBe('uniform');
    expect(duo.tokenizer).toBeNull();
    expect(duo.ids[0]).toHaveLength(10);
    expect(duo.text[0]).toBe(duo.ids[0].join(' '));
    const mdlm = json(
      await duality(['--json', 'sample', join(FIXTURES, 'hf'), '--steps', '3', '--sampler', 'cached']),
    );
    expect(mdlm.process).toBe('masked');
    expect(mdlm.ids[0].every((i: number) => i >= 0 && i < 28)).toBe(true); // no mask id left after noise removal
  });
});

describe("@duality/train's checkpoint layout", () => {
  it('finds <model>/run/checkpoints, picks the newest committed step, its EMA (weights.safetensors with --weights raw), algo and tokenizer from state.json', async () => {
    const model = join(dir, 'trained'); // a bundled model's folder: config.json (training), run/checkpoints/step-N
    const root = join(model, 'run', 'checkpoints');
    const backend = await createBackend('cpu', { threads: 0 });
    for (const [step, committed] of [
      [10, true],
      [20, true],
      [30, false],
    ] as const) {
      const d = join(root, `step-${String(step).padStart(9, '0')}`);
      mkdirSync(d, { recursive: true });
      for (const [file, seed] of [
        ['weights', step],
        ['ema', step + 1],
      ] as const) {
        const m = await DiT.fromStateDict(
          backend,
          brown8Config,
          initStateDict(brown8Config, { seed, scheme: 'normal', std: 0.15 }),
        );
        await saveDiT(m, join(d, `${file}.safetensors`)); // no algo in the card: it is in state.json
        m.dispose();
      }
      writeFileSync(join(d, 'optimizer.safetensors'), 'not a model');
      if (committed)
        writeFileSync(
          join(d, 'state.json'),
          JSON.stringify({ step, config: { algorithm: 'mdlm', data: { dataset: 'brown8' } } }),
        );
    }
    backend.destroy();
    writeFileSync(join(model, 'config.json'), JSON.stringify({ algorithm: 'mdlm', steps: 20 }));
    writeFileSync(join(model, 'run', 'metrics.jsonl'), '{"step":20,"loss":2}\n');
    const top = json(await duality(['--json', 'sample', model, '--steps', '3']));
    expect(top.modelFile).toBe(join(root, 'step-000000020', 'ema.safetensors'));
    const ema = json(await duality(['--json', 'sample', root, '--steps', '3']));
    expect(ema.ids).toEqual(top.ids);
    expect(ema.modelFile).toBe(join(root, 'step-000000020', 'ema.safetensors'));
    expect(ema).toMatchObject({ process: 'masked', tokenizer: 'brown8' });
    const raw = json(await duality(['--json', 'sample', root, '--steps', '3', '--weights', 'raw']));
    expect(raw.modelFile).toBe(join(root, 'step-000000020', 'weights.safetensors'));
    expect(raw.ids).not.toEqual(ema.ids);
    const d = json(await duality(['info', '--json', model]));
    expect(d.reference.algo).toMatchObject({ name: 'mdlm', parameterization: 'subs' });
    expect(d.metrics['state.json'].step).toBe(20);
    expect(d.metrics['metrics.jsonl']).toEqual({ records: 1, last: { step: 20, loss: 2 } }); // from run/
    const text = await duality(['info', model]);
    expect(text.out).toMatch(/state\.json\s+\{"step":20\}/);
  });
});

describe('the live view', () => {
  it('marks masks dim, changed tokens in colour, and positions the model reads as noise dim', () => {
    const colors = createColors(true);
    const view = tokenView(undefined, 3);
    const row = renderRow(
      view,
      { ids: Int32Array.from([3, 1, 2]), previous: Int32Array.from([3, 3, 2]) },
      colors,
    );
    expect(row).toBe(`${colors.dim('_')}${colors.bold(colors.cyan('1 '))}2 `);
    const noisy = renderRow(view, { ids: Int32Array.from([1, 2]), x0: Int32Array.from([1, 0]) }, colors);
    expect(noisy).toBe(`1 ${colors.dim('2 ')}`);
  });
});

describe('duality bench', () => {
  it('lists the repository’s suites and refuses an unknown one (without running any)', async () => {
    const list = await duality(['bench', '--list']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n')).toEqual(expect.arrayContaining(['models', 'samplers', 'kernels']));
    expectOneErrorLine(await duality(['bench', 'no-such-suite']), 2, /suite no-such-suite/);
  });
});
