// The report shapes meshlock-core returns (DESIGN.md "Contracts"). The playground renders them;
// it never derives a mode, an outcome or a diagnostic itself.

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  resource?: string | null;
  file: string;
  line: number;
  column: number;
  /** The Helm template (`# Source:` comment) the document was rendered from. */
  template?: string | null;
}

export type Level = 'default' | 'mesh' | 'namespace' | 'service' | 'workload' | 'port';
export type Effect = 'applied' | 'overridden' | 'inherited' | 'ignored';

export interface ChainEntry {
  level: Level;
  policy: string;
  declared: string;
  effect: Effect;
  reason?: string | null;
  file?: string | null;
  line?: number | null;
}

export interface PortReport {
  port: number;
  mode: string;
  chain: ChainEntry[];
}

export interface WorkloadReport {
  namespace: string;
  name: string;
  kind: string;
  serviceAccount: string;
  identity: string;
  sidecar: boolean;
  sidecarReason: string;
  mode: string;
  ports: PortReport[];
  acceptedTrustDomains: string[];
  /** Servers of the Gateways that select this workload (absent when none). */
  gatewayServers?: GatewayServerReport[];
  /** Set by the page's worker on a large input: the ports' chains were left out of the report
   * (the card asks for them). Never in the engine's JSON. */
  chainsOmitted?: boolean;
}

export interface GatewayServerReport {
  gateway: string;
  port: number;
  protocol: string;
  tlsMode: string;
  hosts: string[];
  file: string;
  line: number;
}

export interface ServicePortReport {
  port: number;
  name?: string | null;
  targetPort: string;
}

export interface ServiceReport {
  namespace: string;
  name: string;
  host: string;
  ports: ServicePortReport[];
  endpoints: string[];
  identities: string[];
}

export interface AnalyzeReport {
  istioVersion: string;
  workloads: WorkloadReport[];
  /** Empty in what the worker hands the page, which lists no services. */
  services: ServiceReport[];
  diagnostics: Diagnostic[];
}

export type ClientTls = 'NONE' | 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';
export type ServerMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'NO_SIDECAR';

export interface Call {
  from: string;
  fromSidecar: boolean;
  to: string;
  toWorkload: string;
  subset: string | null;
  clientTls: ClientTls;
  clientTlsSource: string;
  serverMode: ServerMode;
  ok: boolean;
  mtls: boolean;
  symptom: string | null;
  targetPort: number;
  explanation: string;
  /** Istio mTLS calls: the SNI the client sends and the URI SANs it accepts (empty: any). */
  verifies?: ServerVerification;
}

export interface ServerVerification {
  sni: string;
  acceptedSans: string[];
}

export interface ReachReport {
  calls: Call[];
}

export interface CallOutcome {
  ok: boolean;
  mtls: boolean;
  clientTls: ClientTls;
  serverMode: ServerMode;
  symptom: string | null;
}

export interface CallChange {
  from: string;
  to: string;
  toWorkload: string;
  subset: string | null;
  before: CallOutcome | null;
  after: CallOutcome | null;
  change: string;
}

export interface DiffReport {
  changes: CallChange[];
}

export interface Explanation {
  workload: WorkloadReport;
  story: string[];
  inbound: Call[];
}

export interface ConvertResult {
  yaml: string;
  diagnostics: Diagnostic[];
  unreadable: number;
}

/** What the worker answers to an analysis request. */
export interface AnalysisResult {
  engineVersion: string;
  istioVersion: string;
  report: AnalyzeReport;
  millis: number;
}

/** Documents by kind, read and skipped. */
export interface Inventory {
  read: Record<string, number>;
  skipped: Record<string, number>;
}

/** What the worker answers to a load request. */
export interface LoadResult {
  inventory: Inventory | null;
  millis: number;
}

/** What the worker answers to a reach request: at most `limit` calls, failing first. */
export interface ReachSample {
  calls: Call[];
  total: number;
  failing: number;
  plaintext: number;
  truncated: boolean;
  millis: number;
}

/** Calls by outcome (`reach` counts). */
export interface ReachCounts {
  total: number;
  failing: number;
  plaintext: number;
  mtls: number;
}

/** The calls from clients of one namespace to services of another. */
export interface NamespacePair {
  from: string;
  to: string;
  counts: ReachCounts;
}

/** Failing calls with one cause (a policy or rule, never a client). */
export interface FailureGroup {
  cause: string;
  calls: number;
  clients: number;
  services: number;
  examples: Call[];
}

/** `meshlock reach --summary`: what the page shows first when workloads are too many to read. */
export interface ReachSummary {
  counts: ReachCounts;
  namespaces: NamespacePair[];
  failures: FailureGroup[];
}

/** The filter's verdict for one connection, as its metric and log line name it. */
export interface FilterDecision {
  verdict: 'allow' | 'deny';
  reason: string;
  metric: string;
  peer: string;
}

/** "Try a connection": the plugin configuration and one decision per way the peer reaches the port. */
export interface TryResult {
  configuration: string;
  decisions: { filter: FilterDecision; predicted: Call | null }[];
}

/** `meshlock plan --format json` (docs/plan.md). */
export interface Coverage {
  sidecarWorkloads: number;
  strictWorkloads: number;
  sidecarPorts: number;
  strictPorts: number;
}

export interface PlanProof {
  calls: number;
  breaks: number;
  decrypts: number;
  encrypts: number;
  fixes: number;
  changes: number;
  classEvaluations: number;
  examples: CallChange[];
}

export interface PlanStep {
  number: number;
  file: string;
  title: string;
  level: string;
  resources: { resource: string; action: 'create' | 'update'; change: string }[];
  becomesStrict: { workload: string; ports: number[] }[];
  deletes: string[];
  yaml: string;
  proof: PlanProof;
}

export interface BlockReason {
  kind: string;
  detail: string;
  callers: number;
  examples: string[];
  unblock: string;
}

export interface Plan {
  istioVersion: string;
  goal: string;
  coverage: { before: Coverage; after: Coverage };
  steps: PlanStep[];
  blocked: { workload: string; ports: number[]; reasons: BlockReason[] }[];
  notes: string[];
  cost: { searchRounds: number; checks: number; classEvaluations: number; callsCompared: number };
}
