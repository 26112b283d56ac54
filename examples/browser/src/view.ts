/** Drawing the denoising: one cell per token, and a playback queue that paints every step at least once. */
import type { Tokenizer } from '@duality/models';
import { type Frame, tokenText } from './sampling';

export interface Display {
  tokenizer: Tokenizer;
  maskId?: number;
}

/** The sequence as one <span> per position, marked masked / noisy / changed. */
export class SequenceView {
  private readonly cells: HTMLSpanElement[] = [];
  private previous?: Int32Array;

  constructor(
    root: HTMLElement,
    private readonly display: Display,
    length: number,
  ) {
    root.replaceChildren();
    for (let i = 0; i < length; i++) {
      const cell = document.createElement('span');
      cell.className = 'tok pending';
      cell.textContent = ' ';
      this.cells.push(cell);
    }
    root.append(...this.cells);
  }

  /** Paints a state: masked positions, positions that differ from argmax x̂0 (noisy), and this step's changes. */
  draw(frame: Frame): void {
    const { ids, x0 } = frame;
    for (let i = 0; i < this.cells.length; i++) {
      const id = ids[i];
      const cell = this.cells[i];
      cell.textContent = tokenText(this.display, id);
      cell.classList.toggle('pending', false);
      cell.classList.toggle('mask', id === this.display.maskId);
      cell.classList.toggle('noisy', x0 !== undefined && id !== this.display.maskId && x0[i] !== id);
      cell.classList.toggle('changed', this.previous !== undefined && this.previous[i] !== id);
    }
    this.previous = ids;
  }
}

/**
 * Frames arrive as fast as the sampler makes them; each is painted on its own animation frame so that every
 * step is seen. In a hidden tab (no animation frames) they are drawn at once.
 */
export class Playback {
  private readonly frames: Frame[] = [];
  private scheduled = false;
  private waiting: Array<() => void> = [];

  constructor(private readonly paint: (frame: Frame) => void) {}

  push(frame: Frame): void {
    if (document.hidden) {
      this.paint(frame);
      return;
    }
    this.frames.push(frame);
    this.schedule();
  }

  /** Resolves once every pushed frame has been painted. */
  drained(): Promise<void> {
    if (this.frames.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Drops frames not painted yet (a cancelled run). */
  clear(): void {
    this.frames.length = 0;
    this.release();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => this.tick());
  }

  private tick(): void {
    this.scheduled = false;
    const frame = this.frames.shift();
    if (frame) this.paint(frame);
    if (this.frames.length > 0) this.schedule();
    else this.release();
  }

  private release(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}
