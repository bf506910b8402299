// Messages between the page and the analysis worker.

/** One cell of the namespace × namespace view: clients of `client` calling services of `service`. */
export interface NamespaceCell {
  client: string;
  service: string;
}

export type Request =
  | { id: number; op: 'analyze'; yaml: string; version: string }
  /** `meshlock analyze --format json` of the input, as text (the report to download). */
  | { id: number; op: 'report'; yaml: string; version: string }
  | { id: number; op: 'reach'; yaml: string; version: string; limit: number; between?: NamespaceCell }
  | {
      id: number;
      op: 'summary';
      yaml: string;
      version: string;
      examples: number;
      /** The namespace matrix's filter (`text` in either namespace, the pair's outcome). */
      text: string;
      state: string;
      /** Namespace pairs handed over at most, the most failing first. */
      limit: number;
    }
  | { id: number; op: 'load'; files: { name: string; text: string }[] }
  | { id: number; op: 'workloads'; yaml: string; version: string; keys: string[] }
  | {
      id: number;
      op: 'try';
      yaml: string;
      version: string;
      workload: string;
      port: number;
      peerKind: string;
      peer: string | null;
    }
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
