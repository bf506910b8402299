// Build-time smoke check (scripts/build-web.sh): the wasm-bindgen output in DIR loads in Node
// and answers an analysis. Catches toolchain breakage (a bad wasm-opt pass, a CLI/crate
// version mismatch) before the page is built. Usage: node smoke-wasm.mjs DIR
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = path.resolve(process.argv[2] ?? 'src/wasm');
const glue = await import(pathToFileURL(path.join(dir, 'meshlock_web.js')).href);
glue.initSync({ module: fs.readFileSync(path.join(dir, 'meshlock_web_bg.wasm')) });
const yaml = `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
`;
const model = new glue.Model(yaml, '1.28', undefined);
const report = model.analyze();
model.free();
if (report.istioVersion !== '1.28' || !Array.isArray(report.diagnostics)) {
  console.error('smoke check failed: unexpected report', JSON.stringify(report).slice(0, 500));
  process.exit(1);
}
console.error(`smoke check passed: meshlock-web ${glue.engineVersion()} analysed a document`);
