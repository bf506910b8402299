// The report shapes meshlock-core returns (docs/architecture.md, "Generated TypeScript types").
// The playground renders them; it never derives a mode, an outcome or a diagnostic itself.
//
// Every shape the engine hands over is generated from the Rust types into generated/reports.ts
// (a test fails when the two drift apart). Here they keep the names the views import; only what
// the page itself adds (the worker's timings, the omitted chains, what a request answers) is
// written by hand.

import type * as Engine from './generated/reports';

export type {
  BlockReason,
  CallChange,
  CallOutcome,
  ChainEntry,
  Coverage,
  Diagnostic,
  DiffReport,
  Effect,
  FailureGroup,
  FilterDecision,
  GatewayServerReport,
  Inventory,
  Level,
  NamespacePair,
  NamespaceSummary,
  Plan,
  PortReport,
  ReachCounts,
  ReachReport,
  ReachSummary,
  ServerVerification,
  ServicePortReport,
  ServiceReport,
  Severity,
  TryResult,
} from './generated/reports';

export type Call = Engine.Call;
export type ClientTls = Engine.ClientTlsKind;
export type ServerMode = Engine.ServerModeKind;
export type ConvertResult = Engine.ConvertOutput;
/** `meshlock plan --format json` (docs/plan.md): a step and the proof it carries. */
export type PlanStep = Engine.Step;
export type PlanProof = Engine.Proof;

export interface WorkloadReport extends Engine.WorkloadReport {
  /** Set by meshlock-web's `analyzeSlim` on a large input: the ports' chains were left out of
   * the report (the card asks for them). Never in `meshlock analyze`'s JSON. */
  chainsOmitted?: boolean;
}

/** The analysis as the worker hands it to the page (`analyzeSlim`): `services` is empty there
 * (the page lists no services), and a workload may carry `chainsOmitted`. */
export interface AnalyzeReport extends Engine.AnalyzeReport {
  workloads: WorkloadReport[];
}

export interface Explanation extends Engine.Explanation {
  workload: WorkloadReport;
}

/** What the worker answers to an analysis request. */
export interface AnalysisResult {
  engineVersion: string;
  istioVersion: string;
  report: AnalyzeReport;
  millis: number;
}

/** What the worker answers to a load request. */
export interface LoadResult {
  inventory: Engine.Inventory | null;
  millis: number;
}

/** What the worker answers to a reach request: at most `limit` calls, failing first, and how
 * long the engine took. */
export interface ReachSample extends Engine.ReachSample {
  millis: number;
}
