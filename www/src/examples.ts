// The examples menu: the scenarios of the seed articles, each with the Istio version it is
// about. The YAML lives in ./examples/*.yaml.

import apiServerAndExternal from './examples/api-server-and-external.yaml?raw';
import gatewayPassthrough from './examples/gateway-passthrough.yaml?raw';
import meshPolicy14 from './examples/mesh-policy-1.4.yaml?raw';
import permissiveMigration from './examples/permissive-migration.yaml?raw';
import servicePort14 from './examples/service-port-1.4.yaml?raw';
import sidecarless14 from './examples/sidecarless-1.4.yaml?raw';
import strictMesh from './examples/strict-mesh.yaml?raw';
import strictNamespace from './examples/strict-namespace.yaml?raw';

export interface Example {
  id: string;
  title: string;
  istio: string;
  yaml: string;
}

export const EXAMPLES: readonly Example[] = [
  { id: 'strict-mesh', title: 'PeerAuthentication STRICT mesh-wide', istio: '1.28', yaml: strictMesh },
  { id: 'strict-namespace', title: 'STRICT per namespace and per workload', istio: '1.28', yaml: strictNamespace },
  { id: 'permissive-migration', title: 'PERMISSIVE migration', istio: '1.28', yaml: permissiveMigration },
  { id: 'mesh-policy-1.4', title: 'MeshPolicy + *.local ISTIO_MUTUAL (Istio 1.4)', istio: '1.4', yaml: meshPolicy14 },
  { id: 'service-port-1.4', title: 'Service- and port-level policies (Istio 1.4)', istio: '1.4', yaml: servicePort14 },
  { id: 'sidecarless-1.4', title: 'DISABLE toward a service without sidecar (Istio 1.4)', istio: '1.4', yaml: sidecarless14 },
  { id: 'gateway-passthrough', title: 'Gateway in PASSTHROUGH', istio: '1.28', yaml: gatewayPassthrough },
  { id: 'api-server-and-external', title: '*.local ISTIO_MUTUAL vs the API server and external HTTPS', istio: '1.28', yaml: apiServerAndExternal },
];

/** The Istio versions offered; `auto` lets the engine choose (newest, or 1.5 for v1alpha1 input). */
export const ISTIO_VERSIONS: readonly { value: string; label: string }[] = [
  { value: 'auto', label: 'auto' },
  { value: '1.4', label: '1.4' },
  { value: '1.5', label: '1.5' },
  { value: '1.6', label: '1.6' },
  { value: '1.11', label: '1.11' },
  { value: '1.12', label: '1.12' },
  { value: '1.28', label: '1.28' },
];
