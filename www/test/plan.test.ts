import { describe, expect, it } from 'vitest';
import { coverageLine, planStream, proofLine, stepFile } from '../src/plan';
import type { Plan, PlanStep } from '../src/types';

function step(number: number, yaml: string, fixes: number): PlanStep {
  return {
    number,
    file: `0${number}-mesh.yaml`,
    title: 'mesh-wide STRICT in the root namespace',
    level: 'mesh',
    resources: [{ resource: 'PeerAuthentication istio-system/default', action: 'update', change: 'STRICT' }],
    becomesStrict: [{ workload: 'bar/sleep', ports: [] }],
    deletes: [],
    yaml,
    proof: { calls: 18, breaks: 0, decrypts: 0, encrypts: 0, fixes, changes: 0, classEvaluations: 8, examples: [] },
  };
}

const plan: Plan = {
  istioVersion: '1.28',
  goal: 'strict',
  coverage: {
    before: { sidecarWorkloads: 4, strictWorkloads: 2, sidecarPorts: 2, strictPorts: 1 },
    after: { sidecarWorkloads: 4, strictWorkloads: 3, sidecarPorts: 2, strictPorts: 1 },
  },
  steps: [step(1, 'kind: DestinationRule\n', 4), step(2, 'kind: PeerAuthentication\n', 0)],
  blocked: [],
  notes: [],
  cost: { searchRounds: 2, checks: 4, classEvaluations: 32, callsCompared: 72 },
};

describe('plan step files', () => {
  it('writes the header the CLI writes, then the resources', () => {
    const first = plan.steps[0];
    expect(first).toBeDefined();
    if (!first) return;
    expect(stepFile(first)).toBe(
      '# Step 1: mesh-wide STRICT in the root namespace\n' +
        '# Proof: of 18 calls, 0 break, 0 lose encryption, 0 gain it, 4 are fixed (meshlock plan)\n' +
        'kind: DestinationRule\n',
    );
  });

  it('joins every step into one stream, in order', () => {
    const stream = planStream(plan);
    expect(stream.split('---\n')).toHaveLength(2);
    expect(stream.indexOf('kind: DestinationRule')).toBeLessThan(stream.indexOf('kind: PeerAuthentication'));
  });

  it('says the coverage and the proof in words', () => {
    expect(coverageLine(plan)).toBe(
      '2 steps: 1 of 2 sidecar ports STRICT after the plan (1 now); 3 of 4 workloads fully STRICT (2 now).',
    );
    const second = plan.steps[1];
    expect(second && proofLine(second)).toContain('0 break, 0 lose encryption');
  });
});
