// The page's side of the analysis worker. Requests on one lane are "latest wins": while one is
// running, newer ones replace each other, so typing into a large input never queues up stale
// analyses behind the one in flight.

import type { Job, Request, Response } from './protocol';

type Pending = { job: Job; resolve: (v: unknown) => void; reject: (e: Error) => void };

/** Thrown to a caller whose request was replaced by a newer one on the same lane. */
export class Superseded extends Error {
  constructor() {
    super('superseded by a newer request');
  }
}

export class Engine {
  private worker: Worker;
  private nextId = 1;
  private inflight = new Map<number, Pending & { lane: string; since: number }>();
  private busyLanes = new Set<string>();
  private queued = new Map<string, Pending>();

  constructor(private readonly makeWorker: () => Worker) {
    this.worker = this.start();
  }

  private start(): Worker {
    const w = this.makeWorker();
    w.onmessage = (e: MessageEvent<Response>) => this.onResponse(e.data);
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.restart(`the analysis worker failed: ${e.message || 'unknown error'}`);
    };
    return w;
  }

  /**
   * Starts a fresh worker. After a trap (the wasm instance may be poisoned) every request in
   * flight fails; when cancelling a lane, only that lane's request is dropped (as Superseded)
   * and the others are sent again.
   */
  private restart(reason: string, cancelled?: string): void {
    this.worker.terminate();
    const inflight = [...this.inflight.values()];
    this.inflight.clear();
    this.busyLanes.clear();
    this.worker = this.start();
    for (const p of inflight) {
      if (cancelled === undefined) p.reject(new Error(reason));
      else if (p.lane === cancelled) p.reject(new Superseded());
      else if (!this.queued.has(p.lane)) this.queued.set(p.lane, p);
      else p.reject(new Superseded());
    }
    for (const lane of [...this.queued.keys()]) this.pump(lane);
  }

  /**
   * Stops the request running on `lane` if it has run for at least `ms` (a worker cannot be
   * interrupted, so this starts a new one). Returns whether it did.
   */
  cancelIfSlow(lane: string, ms: number): boolean {
    const running = [...this.inflight.values()].find((p) => p.lane === lane);
    if (!running || performance.now() - running.since < ms) return false;
    this.restart('cancelled', lane);
    return true;
  }

  /** Runs `job` on `lane`; an older queued job on the same lane is rejected with Superseded. */
  run<T>(lane: string, job: Job): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const older = this.queued.get(lane);
      if (older) older.reject(new Superseded());
      this.queued.set(lane, { job, resolve: resolve as (v: unknown) => void, reject });
      this.pump(lane);
    });
  }

  private pump(lane: string): void {
    if (this.busyLanes.has(lane)) return;
    const next = this.queued.get(lane);
    if (!next) return;
    this.queued.delete(lane);
    this.busyLanes.add(lane);
    const id = this.nextId++;
    this.inflight.set(id, { ...next, lane, since: performance.now() });
    this.worker.postMessage({ ...next.job, id } as Request);
  }

  private onResponse(res: Response): void {
    const p = this.inflight.get(res.id);
    if (!p) return;
    this.inflight.delete(res.id);
    this.busyLanes.delete(p.lane);
    if (res.ok) p.resolve(res.value);
    else if (/unreachable|RuntimeError/.test(res.error)) {
      p.reject(new Error(`the engine crashed: ${res.error}`));
      this.restart('the engine crashed and was restarted');
    } else p.reject(new Error(res.error));
    this.pump(p.lane);
  }
}
