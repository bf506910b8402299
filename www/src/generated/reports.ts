// Generated from the Rust types that cross into JavaScript (meshlock-core's reports and
// meshlock-web's answers); do not edit. A change to those types fails
// `cargo test -p meshlock-web --features ts --test typescript` until this file is rewritten with
// `MESHLOCK_BLESS=1 cargo test -p meshlock-web --features ts --test typescript`.

/**
 * An Istio minor version such as `1.5` or `1.28`. Patch numbers are accepted and ignored:
 * no mTLS rule changed in a patch release.
 */
export type IstioVersion = string;

/**
 * What identifies a resource in messages: `Kind namespace/name`.
 */
export type ResourceId = string;

/**
 * The policy a precedence-chain entry stands for.
 */
export type PolicyRef = string;

/**
 * Where a client's TLS toward one call came from (`clientTlsSource`, printed as a sentence).
 */
export type ClientTlsSource = string;

/**
 * Stable diagnostic codes. `ML0xxx` input, `ML1xx` server side, `ML2xx` legacy
 * v1alpha1, `ML3xx` DestinationRule, `ML4xx` reachability, `ML5xx`
 * AuthorizationPolicy, `ML6xx` Gateway, `ML7xx` inventory.
 */
export type Code = string;

/**
 * How bad a finding is. `Error` makes `meshlock analyze` exit 1.
 */
export type Severity = "info" | "warning" | "error";

/**
 * One finding.
 */
export type Diagnostic = { code: Code, severity: Severity, message: string,
/**
 * `Kind namespace/name` of the resource it is about, when there is one.
 */
resource?: string, file: string, line: number, column: number,
/**
 * The template the document was rendered from, when the input is `helm template` output
 * (its `# Source:` comment): where the reader edits what `file:line` shows.
 */
template?: string, };

export type AnalyzeReport = { istioVersion: IstioVersion, workloads: Array<WorkloadReport>, services: Array<ServiceReport>, diagnostics: Array<Diagnostic>, };

export type WorkloadReport = { namespace: string, name: string, kind: string, serviceAccount: string, identity: string, sidecar: boolean,
/**
 * Why meshlock thinks the workload has (or lacks) a sidecar.
 */
sidecarReason: string,
/**
 * The workload-level mode, or `NONE` without a sidecar.
 */
mode: string, ports: Array<PortReport>,
/**
 * Trust domains whose SPIFFE IDs this workload's sidecar accepts.
 */
acceptedTrustDomains: Array<string>,
/**
 * Servers of the Gateways that select this workload. A gateway's listeners take their TLS
 * from these, not from PeerAuthentication (`pilot/pkg/networking/core/gateway.go`).
 */
gatewayServers?: Array<GatewayServerReport>, };

export type GatewayServerReport = {
/**
 * Printed as `Gateway ns/name`.
 */
gateway: ResourceId, port: number, protocol: string,
/**
 * The server's TLS mode (`PASSTHROUGH`, `SIMPLE`, `MUTUAL`, `AUTO_PASSTHROUGH`,
 * `ISTIO_MUTUAL`, `OPTIONAL_MUTUAL`), or `NONE` for a plain-text server.
 */
tlsMode: string, hosts: Array<string>, file: string, line: number, };

export type PortReport = {
/**
 * The workload (container) port.
 */
port: number,
/**
 * `STRICT`, `PERMISSIVE`, `DISABLE`, or `NONE` without a sidecar.
 */
mode: string, chain: Array<ChainEntry>, };

/**
 * The precedence level of a policy.
 */
export type Level = "default" | "mesh" | "namespace" | "service" | "workload" | "port";

export type Effect = "applied" | "overridden" | "inherited" | "ignored";

export type ChainEntry = { level: Level,
/**
 * Printed as `PeerAuthentication ns/name` (with `portLevelMtls[port]` for a port entry),
 * `MeshPolicy default`, `Policy ns/name`, or `built-in` for the default.
 */
policy: PolicyRef,
/**
 * The mode the policy declares (`UNSET` when it inherits).
 */
declared: string, effect: Effect, reason?: string, file?: string, line?: number, };

export type ServiceReport = { namespace: string, name: string, host: string, ports: Array<ServicePortReport>,
/**
 * `namespace/name` of the workloads behind it.
 */
endpoints: Array<string>,
/**
 * The SPIFFE IDs a client accepts from this service (secure naming).
 */
identities: Array<string>, };

export type ServicePortReport = { port: number, name?: string, targetPort: string, };

/**
 * Documents by kind: the ones read, and the ones skipped because they do not bear on mTLS
 * (what a cluster dump carries besides: Secrets, Events, ConfigMaps other than the mesh's).
 */
export type Inventory = { read: { [key in string]: number }, skipped: { [key in string]: number }, };

/**
 * What the client sends (`clientTls`).
 */
export type ClientTlsKind = "NONE" | "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL";

/**
 * What the server port does (`serverMode`).
 */
export type ServerModeKind = "STRICT" | "PERMISSIVE" | "DISABLE" | "NO_SIDECAR";

export type ReachReport = { calls: Array<Call>, };

export type Call = { from: string, fromSidecar: boolean,
/**
 * `host:port` (service port).
 */
to: string, toWorkload: string, subset: string | null, clientTls: ClientTlsKind,
/**
 * Printed as a sentence.
 */
clientTlsSource: ClientTlsSource, serverMode: ServerModeKind, symptom: string | null,
/**
 * The workload (container) port the call lands on.
 */
targetPort: number,
/**
 * Why, in one sentence.
 */
explanation: string,
/**
 * For Istio mTLS: the SNI the client sends (`outbound_.PORT_.SUBSET_.HOST` unless the rule
 * sets `sni`) and the URI SANs it accepts from the server — what to compare with the
 * server's certificate when the handshake fails with CERTIFICATE_VERIFY_FAILED.
 */
verifies?: ServerVerification, ok: boolean, mtls: boolean, };

export type ServerVerification = { sni: string,
/**
 * Empty: any certificate of the mesh's CA is accepted.
 */
acceptedSans: Array<string>, };

/**
 * How many calls [`for_each_call`] visits, by outcome.
 */
export type ReachCounts = { total: number, failing: number,
/**
 * Admitted without mutual TLS.
 */
plaintext: number, mtls: number, };

export type NamespacePair = {
/**
 * The clients' namespace.
 */
from: string,
/**
 * The service's namespace.
 */
to: string, counts: ReachCounts, };

/**
 * Failing calls with one cause.
 */
export type FailureGroup = {
/**
 * What breaks them: the policy or rule, never a particular client.
 */
cause: string, calls: number,
/**
 * Distinct client workloads.
 */
clients: number,
/**
 * Distinct services.
 */
services: number,
/**
 * The first few calls, in full.
 */
examples: Array<Call>, };

/**
 * The reach of a mesh too large to list: counts per client namespace × service namespace, and
 * the failing calls grouped by what breaks them.
 */
export type ReachSummary = { counts: ReachCounts,
/**
 * Pairs with at least one call, by client namespace then service namespace.
 */
namespaces: Array<NamespacePair>,
/**
 * Most calls first.
 */
failures: Array<FailureGroup>, };

/**
 * What [`Model::reach_summary`] hands to JavaScript: [`meshlock_core::reach::ReachSummary`]
 * with its namespace pairs filtered and bounded.
 */
export type NamespaceSummary = {
/**
 * Every call of the input.
 */
counts: ReachCounts,
/**
 * At most the limit of the pairs the filter keeps: the most failing calls first, then
 * plaintext, then calls, ties in the pairs' order (`meshlock reach`'s ranking), listed by
 * client namespace then service namespace.
 */
namespaces: Array<NamespacePair>,
/**
 * Pairs with at least one call, filter or not.
 */
pairs: number,
/**
 * Pairs the filter keeps.
 */
matching: number,
/**
 * Whether `namespaces` holds fewer than `matching`.
 */
truncated: boolean,
/**
 * Every namespace a pair can name, sorted.
 */
names: Array<string>,
/**
 * The [`FAILURE_CAUSES`] causes with the most failing calls, most first.
 */
failures: Array<FailureGroup>,
/**
 * Failure causes in all (one per policy or rule that breaks calls: thousands in a large mesh).
 */
causes: number, };

/**
 * What [`Model::reach_sample`] hands to JavaScript.
 */
export type ReachSample = { calls: Array<Call>,
/**
 * Every call of the input (before the limit).
 */
total: number, failing: number, plaintext: number,
/**
 * Whether `calls` holds fewer than `total`.
 */
truncated: boolean, };

export type Explanation = { workload: WorkloadReport,
/**
 * The precedence story, one paragraph per port.
 */
story: Array<string>,
/**
 * Calls into this workload (from the reach query).
 */
inbound: Array<Call>, };

export type DiffReport = { changes: Array<CallChange>, };

export type CallChange = { from: string, to: string, toWorkload: string, subset: string | null,
/**
 * `None` when the call does not exist on that side (a workload or service came or went).
 */
before: CallOutcome | null, after: CallOutcome | null, change: ChangeKind, };

export type CallOutcome = { clientTls: ClientTlsKind, serverMode: ServerModeKind, symptom: string | null, ok: boolean, mtls: boolean, };

/**
 * How one call differs between two inputs. The order is what a reviewer must see first: calls
 * that break, then those that lose encryption.
 */
export type ChangeKind = "breaks" | "decrypts" | "removed" | "fixes" | "encrypts" | "added" | "changes";

/**
 * The converted YAML and what could not be converted.
 */
export type ConvertOutput = { yaml: string, diagnostics: Array<Diagnostic>,
/**
 * Documents that could not be parsed.
 */
unreadable: number, };

/**
 * The plan: steps, what each proves, and what cannot become STRICT and why.
 */
export type Plan = { istioVersion: IstioVersion, goal: string, coverage: CoverageChange, steps: Array<Step>,
/**
 * Sidecar workloads with ports that stay below STRICT, and why.
 */
blocked: Array<Blocked>, notes: Array<string>, cost: PlanCost, };

export type CoverageChange = { before: Coverage,
/**
 * After the last step.
 */
after: Coverage, };

/**
 * STRICT coverage: sidecar workloads (gateways excluded) and their known ports.
 */
export type Coverage = { sidecarWorkloads: number,
/**
 * Workloads whose every known port, and whose workload-level mode, is STRICT.
 */
strictWorkloads: number, sidecarPorts: number, strictPorts: number, };

/**
 * What the plan's checks cost, counted: each check compares every call of the mesh once,
 * per client class (docs/reach.md), so the work is classes × endpoint ports, not clients ×
 * services.
 */
export type PlanCost = {
/**
 * Rounds of the search (each: realise, replay, compare).
 */
searchRounds: number,
/**
 * Whole-mesh comparisons made (search rounds and step proofs).
 */
checks: number,
/**
 * Class calls evaluated in both states, over all checks.
 */
classEvaluations: number,
/**
 * Calls those evaluations stand for.
 */
callsCompared: number, };

export type Step = { number: number,
/**
 * `NN-what.yaml`.
 */
file: string, title: string,
/**
 * `destination-rules`, `workload-pins`, `workloads`, `namespaces`, `mesh`, or several joined
 * by `+` when steps had to be merged to stay safe.
 */
level: string, resources: Array<StepResource>,
/**
 * `namespace/name` with the ports that become STRICT in this step.
 */
becomesStrict: Array<StrictGain>,
/**
 * `kubectl delete` lines (the plan restates and never needs one today; kept empty).
 */
deletes: Array<string>,
/**
 * The step file: every changed resource, restated in full.
 */
yaml: string, proof: Proof, };

export type StepResource = {
/**
 * `Kind namespace/name`.
 */
resource: string,
/**
 * `create` or `update`.
 */
action: "create" | "update", change: string, };

export type StrictGain = { workload: string,
/**
 * Known ports that become STRICT (empty: the workload has no known port; its workload-level
 * mode does).
 */
ports: Array<number>, };

/**
 * The comparison of the mesh before and after a step: every call, by client class.
 */
export type Proof = { calls: number, breaks: number, decrypts: number, encrypts: number, fixes: number,
/**
 * Other changes (client TLS or server mode, same outcome and encryption).
 */
changes: number,
/**
 * Class calls evaluated in both states.
 */
classEvaluations: number,
/**
 * The changed calls, one per client class, up to [`PROOF_EXAMPLES`] (`change` as `diff`
 * names it).
 */
examples: Array<CallChange>, };

export type Blocked = { workload: string,
/**
 * Known ports that stay below STRICT (empty: the workload-level mode only).
 */
ports: Array<number>, reasons: Array<BlockReason>, };

export type BlockKind = "clients-without-sidecar" | "destination-rule" | "gateway" | "root-namespace" | "shared-policy" | "no-selector" | "other";

export type BlockReason = { kind: BlockKind, detail: string,
/**
 * Calling workloads behind the reason (0 when no call is involved).
 */
callers: number,
/**
 * A few of them, `namespace/name`.
 */
examples: Array<string>,
/**
 * What would unblock it.
 */
unblock: string, };

export type TryResult = {
/**
 * The plugin configuration of the workload's inbound filter, exactly as the WasmPlugin's
 * `pluginConfig` carries it.
 */
configuration: string,
/**
 * One decision per way the peer reaches the port (a workload may reach it through several
 * services or subsets, each with its own client TLS); one for the other kinds of peer.
 */
decisions: Array<TriedCall>, };

export type TriedCall = { filter: FilterDecision,
/**
 * `reach`'s prediction, when the peer is a workload of the input.
 */
predicted: Call | null, };

/**
 * The filter's verdict, as its metric and log line name it.
 */
export type FilterDecision = {
/**
 * `allow` or `deny`.
 */
verdict: "allow" | "deny",
/**
 * The reason token (`mtls_peer`, `plaintext`, `untrusted_trust_domain`, …).
 */
reason: string,
/**
 * The Envoy counter it increments.
 */
metric: string,
/**
 * What the filter was told about the connection.
 */
peer: string, };
