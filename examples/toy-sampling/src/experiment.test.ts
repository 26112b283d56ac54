import { createBackend } from '@duality/kernels';
import { describe, expect, it } from 'vitest';
import { exactFloor, runToy, SAMPLERS } from './experiment';
import { qualityPlot } from './plot';
import { LENGTH, makeToy } from './toy';

describe('toy-sampling experiment', () => {
  it('fills one cell per sampler and step count, streams states, and plots them', async () => {
    const backend = await createBackend('cpu', { threads: 0 });
    const toy = makeToy(backend, 'masked');
    let states = 0;
    const cells = await runToy(toy, {
      steps: [2, 4],
      batch: 20,
      seed: 1,
      samplers: SAMPLERS.slice(0, 2),
      onState: () => states++,
    });
    expect(cells.map((c) => [c.sampler, c.steps])).toEqual([
      [SAMPLERS[0].name, 2],
      [SAMPLERS[0].name, 4],
      [SAMPLERS[1].name, 2],
      [SAMPLERS[1].name, 4],
    ]);
    expect(states).toBe(2 * (3 + 5)); // steps + the final state, per run
    for (const c of cells) expect(c.tv).toBeGreaterThanOrEqual(0);
    const floor = exactFloor(toy, 20, 3, 1);
    expect(floor).toBeGreaterThan(0);
    const svg = qualityPlot(cells, { masked: floor }, 'test');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(LENGTH).toBe(8);
  });
});
