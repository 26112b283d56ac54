/**
 * Row windows for `defineOp` webgpu kernels whose operands may exceed one storage binding
 * (`maxStorageBufferBindingSize`, 128 MiB on compatibility adapters): the rows of each windowed operand are copied
 * into window tensors, the kernel runs on them, and the windows of the outputs are copied back into place.
 * Buffer copies have no binding limit and no alignment beyond 4 bytes, so any whole number of rows works.
 */
import { AllocationError, describeShape } from '../errors';
import type { Tensor } from '../types';
import type { WebGPUKernelContext } from './define';

/** A tensor handled window by window: `rowSize` elements (4 bytes each) per row, rows contiguous. */
export interface RowWindowOperand {
  readonly tensor: Tensor;
  readonly rowSize: number;
}

export interface RowWindowSpec {
  /** Op name for errors. */
  readonly op: string;
  /** Rows of every windowed operand. */
  readonly rows: number;
  /** Operands the kernel reads, windowed. */
  readonly inputs: readonly RowWindowOperand[];
  /** Operands the kernel writes, windowed (copied back after each window's dispatch). */
  readonly outputs: readonly RowWindowOperand[];
  /** At most this many bytes per binding (default and upper bound: the device's maxStorageBufferBindingSize). */
  readonly maxBindingBytes?: number;
}

/**
 * Calls `dispatch(first, count, tensors)` so that no windowed operand binds more than one binding: once with the
 * operands themselves (first = 0, count = rows) when all fit, else once per window of whole rows with window
 * tensors (`tensors` holds the inputs' then the outputs' windows; row `first` of the whole tensor is row 0 of the
 * window). Operands bound whole are the kernel's own business (`checkBindable`). Refuses a row that alone exceeds
 * the binding (AllocationError). The window tensors are freed before it returns (also when `dispatch` throws).
 */
export function forRowWindows(
  ctx: WebGPUKernelContext,
  spec: RowWindowSpec,
  dispatch: (first: number, count: number, tensors: readonly Tensor[]) => void,
): void {
  const { rows } = spec;
  if (rows <= 0) return;
  const all = [...spec.inputs, ...spec.outputs];
  const limit = Math.min(
    spec.maxBindingBytes ?? Number.POSITIVE_INFINITY,
    ctx.limits.maxStorageBufferBindingSize,
  );
  if (all.every((o) => rows * o.rowSize * 4 <= limit)) {
    dispatch(
      0,
      rows,
      all.map((o) => o.tensor),
    );
    return;
  }
  const widest = Math.max(1, ...all.map((o) => o.rowSize));
  const per = Math.min(rows, Math.floor(limit / 4 / widest));
  if (per < 1) {
    const t = all.find((o) => o.rowSize === widest)?.tensor as Tensor;
    throw new AllocationError(
      spec.op,
      `rows of ${widest} elements (${widest * 4} bytes) of a tensor of shape ${describeShape(t.shape)}`,
      `rows of at most ${limit} bytes (one storage binding)`,
    );
  }
  const windows = all.map((o) => ctx.output([per * Math.max(1, o.rowSize)], o.tensor.dtype));
  try {
    for (let first = 0; first < rows; first += per) {
      const count = Math.min(per, rows - first);
      spec.inputs.forEach((o, i) => {
        copyWords(ctx, o.tensor, first * o.rowSize, windows[i], 0, count * o.rowSize);
      });
      dispatch(first, count, windows);
      spec.outputs.forEach((o, i) => {
        copyWords(ctx, windows[spec.inputs.length + i], 0, o.tensor, first * o.rowSize, count * o.rowSize);
      });
    }
  } finally {
    // freeing after submission is valid: the queued copies and dispatches still complete
    for (const w of windows) w.dispose();
  }
}

/** Copies `count` 4-byte words from `from` (at word `fromAt`) to `to` (at word `toAt`), queued in order. */
function copyWords(
  ctx: WebGPUKernelContext,
  from: Tensor,
  fromAt: number,
  to: Tensor,
  toAt: number,
  count: number,
): void {
  if (count === 0) return;
  const backend = ctx.backend;
  const device = backend.device as GPUDevice;
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(
    backend.bufferOf(from) as GPUBuffer,
    fromAt * 4,
    backend.bufferOf(to) as GPUBuffer,
    toAt * 4,
    count * 4,
  );
  device.queue.submit([encoder.finish()]);
}
