// Messages between the page and the analysis worker.

export type Request =
  | { id: number; op: 'analyze'; yaml: string; version: string }
  | { id: number; op: 'reach'; yaml: string; version: string; limit: number }
  | { id: number; op: 'explain'; yaml: string; version: string; workload: string; port: number | null }
  | { id: number; op: 'diff'; before: string; after: string; version: string }
  | { id: number; op: 'convert'; yaml: string }
  | { id: number; op: 'plan'; yaml: string; version: string };

export type Op = Request['op'];

/** A request without its id (the engine client numbers them). */
export type Job = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export type Response =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };
