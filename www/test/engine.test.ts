// The page-side request lanes: while a request runs, newer ones on the same lane replace each
// other, so a slow analysis of a large input never queues stale work behind it.
import { describe, expect, it } from 'vitest';
import { Engine, Superseded } from '../src/engine';
import type { Request, Response } from '../src/protocol';

/** A stand-in for the worker that answers when told to (the real one runs in the browser tests). */
class ManualWorker {
  onmessage: ((e: MessageEvent<Response>) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  received: Request[] = [];
  terminated = false;
  postMessage(req: Request) {
    this.received.push(req);
  }
  terminate() {
    this.terminated = true;
  }
  answer(id: number, value: unknown) {
    this.onmessage?.({ data: { id, ok: true, value } } as MessageEvent<Response>);
  }
  fail(id: number, error: string) {
    this.onmessage?.({ data: { id, ok: false, error } } as MessageEvent<Response>);
  }
}

function setup() {
  const workers: ManualWorker[] = [];
  const engine = new Engine(() => {
    const w = new ManualWorker();
    workers.push(w);
    return w as unknown as Worker;
  });
  return { engine, workers };
}

describe('Engine lanes', () => {
  it('runs the first request, keeps only the newest while busy', async () => {
    const { engine, workers } = setup();
    const w = workers[0]!;
    const a = engine.run('analyze', { op: 'convert', yaml: 'a' });
    const b = engine.run('analyze', { op: 'convert', yaml: 'b' });
    const c = engine.run('analyze', { op: 'convert', yaml: 'c' });
    await expect(b).rejects.toBeInstanceOf(Superseded);
    expect(w.received.map((r) => (r as { yaml: string }).yaml)).toEqual(['a']);
    w.answer(w.received[0]!.id, 'A');
    expect(await a).toBe('A');
    expect(w.received.map((r) => (r as { yaml: string }).yaml)).toEqual(['a', 'c']);
    w.answer(w.received[1]!.id, 'C');
    expect(await c).toBe('C');
  });

  it('lanes are independent', () => {
    const { engine, workers } = setup();
    void engine.run('analyze', { op: 'convert', yaml: 'a' });
    void engine.run('diff', { op: 'convert', yaml: 'd' });
    expect(workers[0]!.received).toHaveLength(2);
  });

  it('cancelling a slow lane restarts the worker and resends the other lanes', async () => {
    const { engine, workers } = setup();
    const reach = engine.run('reach', { op: 'convert', yaml: 'slow' });
    const diff = engine.run('diff', { op: 'convert', yaml: 'other' });
    expect(engine.cancelIfSlow('reach', 60_000)).toBe(false);
    expect(workers).toHaveLength(1);
    expect(engine.cancelIfSlow('reach', 0)).toBe(true);
    await expect(reach).rejects.toBeInstanceOf(Superseded);
    expect(workers[0]!.terminated).toBe(true);
    const fresh = workers[1]!;
    expect(fresh.received.map((r) => (r as { yaml: string }).yaml)).toEqual(['other']);
    fresh.answer(fresh.received[0]!.id, 'D');
    expect(await diff).toBe('D');
    expect(engine.cancelIfSlow('diff', 0)).toBe(false);
  });

  it('an engine error rejects; a trap restarts the worker', async () => {
    const { engine, workers } = setup();
    const p = engine.run('analyze', { op: 'convert', yaml: 'a' });
    workers[0]!.fail(workers[0]!.received[0]!.id, 'bad input');
    await expect(p).rejects.toThrow('bad input');
    const q = engine.run('analyze', { op: 'convert', yaml: 'b' });
    workers[0]!.fail(workers[0]!.received[1]!.id, 'RuntimeError: unreachable');
    await expect(q).rejects.toThrow(/crashed/);
    expect(workers[0]!.terminated).toBe(true);
    expect(workers).toHaveLength(2);
    const r = engine.run('analyze', { op: 'convert', yaml: 'c' });
    workers[1]!.answer(workers[1]!.received[0]!.id, 'ok');
    expect(await r).toBe('ok');
  });
});
