// The plan's step files as the playground offers them for download: the same text
// `meshlock plan --out DIR` writes (a two-line header, then the resources). No rule lives here.

import type { Plan, PlanStep } from './types';

/** The text of one step file, as `meshlock plan --out` writes it. */
export function stepFile(step: PlanStep): string {
  const p = step.proof;
  let out = `# Step ${step.number}: ${step.title}\n`;
  out += `# Proof: of ${p.calls} calls, ${p.breaks} break, ${p.decrypts} lose encryption, ${p.encrypts} gain it, ${p.fixes} are fixed (meshlock plan)\n`;
  for (const d of step.deletes) out += `# then: ${d}\n`;
  return out + step.yaml;
}

/** Every step file in order, as one YAML stream (what applying them one after another means). */
export function planStream(plan: Plan): string {
  return plan.steps.map(stepFile).join('---\n');
}

/** One line: how much is STRICT now and after the plan. */
export function coverageLine(plan: Plan): string {
  const { before, after } = plan.coverage;
  const steps = `${plan.steps.length} step${plan.steps.length === 1 ? '' : 's'}`;
  return (
    `${steps}: ${after.strictPorts} of ${after.sidecarPorts} sidecar ports STRICT after the plan ` +
    `(${before.strictPorts} now); ${after.strictWorkloads} of ${after.sidecarWorkloads} workloads fully STRICT ` +
    `(${before.strictWorkloads} now).`
  );
}

/** A proof in words. */
export function proofLine(step: PlanStep): string {
  const p = step.proof;
  return (
    `Proof: ${p.calls} calls compared \u2014 ${p.breaks} break, ${p.decrypts} lose encryption; ` +
    `${p.encrypts} gain encryption, ${p.fixes} fixed, ${p.changes} otherwise changed.`
  );
}
