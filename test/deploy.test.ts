// deploy/: every Kubernetes manifest validated offline against the API's schemas
// (kubernetes-models), the promises the files make to each other checked (probes, drain within
// the grace period, no egress, non-root and read-only), and the image's command started here.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Pod, Service } from 'kubernetes-models/v1';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { hostCommand } from '../host/cli/host-args.js';
import { tempFile } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = `${ROOT}deploy/`;
const TOKEN_FILE = tempFile({ after }, 'codecell-deploy-', 'token\n');

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Record<string, unknown> };

function manifests(folder: string): Manifest[] {
  return readdirSync(`${DEPLOY}${folder}`)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(`${DEPLOY}${folder}/${file}`, 'utf8')).map((document) => {
        assert.deepEqual(document.errors, [], `${folder}/${file} parses`);
        return document.toJS() as Manifest;
      }),
    );
}

/**
 * The parts of the agent-sandbox v1beta1 CRDs (kubernetes-sigs/agent-sandbox, k8s/crds/) these
 * manifests use, as closed schemas: a field the CRD does not have fails here, as the API server's
 * strict field validation would refuse it. The pod template is checked as a Pod (kubernetes-models).
 */
const named = {
  type: 'object',
  properties: { name: { type: 'string' } },
  required: ['name'],
  additionalProperties: false,
};
const resource = (kind: string, spec: object) => ({
  type: 'object',
  properties: {
    apiVersion: { const: 'extensions.agents.x-k8s.io/v1beta1' },
    kind: { const: kind },
    metadata: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    spec,
  },
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
});
const AGENT_SANDBOX_V1BETA1: Record<string, object> = {
  SandboxTemplate: resource('SandboxTemplate', {
    type: 'object',
    properties: {
      podTemplate: {
        type: 'object',
        properties: { metadata: { type: 'object' }, spec: { type: 'object' } },
        required: ['spec'],
        additionalProperties: false,
      },
      networkPolicy: {
        type: 'object',
        properties: { ingress: { type: 'array' }, egress: { type: 'array' } },
        additionalProperties: false,
      },
      networkPolicyManagement: { enum: ['Managed', 'Unmanaged'] },
      envVarsInjectionPolicy: { enum: ['Allowed', 'Overrides', 'Disallowed'] },
      service: { type: 'boolean' },
      volumeClaimTemplates: { type: 'array' },
      volumeClaimTemplatesPolicy: { type: 'object' },
    },
    required: ['podTemplate'],
    additionalProperties: false,
  }),
  SandboxWarmPool: resource('SandboxWarmPool', {
    type: 'object',
    properties: {
      replicas: { type: 'integer', minimum: 0 },
      sandboxTemplateRef: named,
      updateStrategy: {
        type: 'object',
        properties: { type: { enum: ['Recreate', 'OnReplenish'] } },
        additionalProperties: false,
      },
    },
    required: ['sandboxTemplateRef'],
    additionalProperties: false,
  }),
  SandboxClaim: resource('SandboxClaim', {
    type: 'object',
    properties: {
      warmPoolRef: named,
      additionalPodMetadata: { type: 'object' },
      env: { type: 'array' },
      lifecycle: {
        type: 'object',
        properties: {
          shutdownPolicy: { enum: ['Delete', 'DeleteForeground', 'Retain'] },
          shutdownTime: { type: 'string' },
          ttlSecondsAfterFinished: { type: 'integer', minimum: 0 },
        },
        additionalProperties: false,
      },
      volumeClaimTemplates: { type: 'array' },
    },
    required: ['warmPoolRef'],
    additionalProperties: false,
  }),
};

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
};

type PodSpec = {
  terminationGracePeriodSeconds: number;
  automountServiceAccountToken: boolean;
  securityContext: { runAsNonRoot: boolean };
  containers: {
    args: string[];
    readinessProbe: { httpGet: { path: string; port: string } };
    livenessProbe: { httpGet: { path: string; port: string } };
    ports: { name: string; containerPort: number }[];
    resources: { requests: object; limits: { memory?: string } };
    securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
  }[];
};

/** What a host pod must promise, wherever it is declared. */
function checkHostPod(spec: PodSpec, where: string): void {
  const [container] = spec.containers;
  assert.ok(container !== undefined, where);
  // The token file is the Secret's, mounted in the pod; here a stand-in.
  const args = container.args.map((arg) => (arg === '/var/run/codecell/token' ? TOKEN_FILE : arg));
  const plan = hostCommand(args, { stdout: process.stdout, stderr: process.stderr, env: {} });
  assert.ok(typeof plan === 'object' && plan.mode === 'listen', `${where}: the args are a valid --listen command line`);
  assert.equal(plan.host, '0.0.0.0');
  assert.ok(
    spec.terminationGracePeriodSeconds * 1000 > plan.drainMs + 5_000,
    `${where}: the grace period covers the drain and the shutdown`,
  );
  assert.deepEqual(
    container.ports.map((port) => [port.name, port.containerPort]),
    [['ws', plan.port]],
  );
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.ok(container.args.includes('--token-file'), `${where}: a token is required`);
  assert.equal(spec.securityContext.runAsNonRoot, true);
  assert.equal(spec.automountServiceAccountToken, false);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.ok(container.resources.requests !== undefined && container.resources.limits !== undefined);
  // The cells' memory budget fits the pod's limit, with room for the host itself: one
  // connection's cells cannot get every tenant's sessions killed by the kernel.
  const limit = /^(\d+)(Mi|Gi)$/.exec(container.resources.limits.memory ?? '');
  assert.ok(limit !== null, `${where}: a memory limit in Mi or Gi`);
  const limitMb = Number(limit[1]) * (limit[2] === 'Gi' ? 1024 : 1);
  assert.ok(plan.memoryBudgetMb !== undefined, `${where}: --memory-budget-mb is set`);
  assert.ok(
    plan.memoryBudgetMb + 256 <= limitMb,
    `${where}: budget ${plan.memoryBudgetMb} MiB in a ${limitMb} MiB pod`,
  );
}

describe('deploy/', { timeout: 60_000 }, () => {
  test('every Kubernetes manifest is valid against the API schemas, and they agree with each other', () => {
    const all = manifests('kubernetes');
    const kinds = all.map((manifest) => `${manifest.apiVersion} ${manifest.kind}`).sort();
    assert.deepEqual(kinds, Object.keys(MODELS).sort());
    for (const manifest of all) {
      const Model = MODELS[`${manifest.apiVersion} ${manifest.kind}`] as (typeof MODELS)[string];
      assert.doesNotThrow(() => new Model(manifest as never).validate(), `${manifest.kind} is valid`);
    }
    const byKind = (kind: string): Manifest => all.find((manifest) => manifest.kind === kind) as Manifest;
    const deployment = byKind('Deployment').spec as {
      selector: { matchLabels: object };
      template: { metadata: { labels: object }; spec: PodSpec };
    };
    checkHostPod(deployment.template.spec, 'Deployment');
    const labels = deployment.selector.matchLabels;
    assert.deepEqual(byKind('Service').spec.clusterIP, 'None', 'a headless Service: clients see every pod');
    assert.deepEqual(byKind('Service').spec.selector, labels);
    assert.deepEqual((byKind('PodDisruptionBudget').spec.selector as { matchLabels: object }).matchLabels, labels);
    assert.deepEqual((byKind('NetworkPolicy').spec.podSelector as { matchLabels: object }).matchLabels, labels);
    assert.deepEqual(byKind('NetworkPolicy').spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(byKind('NetworkPolicy').spec.egress, [], 'host pods reach nothing');
    assert.equal(
      (byKind('HorizontalPodAutoscaler').spec.scaleTargetRef as { name: string }).name,
      byKind('Deployment').metadata.name,
    );
  });

  test('agent replicas sharing PostgreSQL: valid, let in by the hosts, given what the example reads', () => {
    const all = manifests('agents');
    assert.deepEqual(all.map((manifest) => `${manifest.apiVersion} ${manifest.kind}`).sort(), [
      'apps/v1 Deployment',
      'policy/v1 PodDisruptionBudget',
      'v1 Service',
    ]);
    for (const manifest of all) {
      const Model = MODELS[`${manifest.apiVersion} ${manifest.kind}`] as (typeof MODELS)[string];
      assert.doesNotThrow(() => new Model(manifest as never).validate(), `${manifest.kind} is valid`);
    }
    const agents = all.find((manifest) => manifest.kind === 'Deployment')?.spec as {
      replicas: number;
      template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    };
    assert.ok(agents.replicas >= 2, 'more than one replica: one adopts what another leaves');
    // The replicas find one another through a headless Service selecting them.
    const peers = all.find((manifest) => manifest.kind === 'Service')?.spec as {
      clusterIP: string;
      selector: Record<string, string>;
    };
    assert.equal(peers.clusterIP, 'None');
    assert.deepEqual(peers.selector, {
      'app.kubernetes.io/name': agents.template.metadata.labels['app.kubernetes.io/name'],
    });
    // The host pods' NetworkPolicy lets in pods with this label only.
    const policy = manifests('kubernetes').find((manifest) => manifest.kind === 'NetworkPolicy');
    assert.ok(JSON.stringify(policy?.spec).includes('"codecell.dev/client":"true"'));
    assert.equal(agents.template.metadata.labels['codecell.dev/client'], 'true');
    const [container] = agents.template.spec.containers as unknown as { args: string[]; env: { name: string }[] }[];
    const example = readFileSync(`${ROOT}examples/agent-replica.mjs`, 'utf8');
    const read = [...example.matchAll(/process\.env\.(\w+)/g)].map((match) => match[1]);
    assert.deepEqual(container?.env.map((variable) => variable.name).sort(), [...new Set(read)].sort());
    assert.ok(container?.args.includes('examples/agent-replica.mjs'));
    const checked = spawnSync(process.execPath, ['--check', `${ROOT}examples/agent-replica.mjs`], { encoding: 'utf8' });
    assert.equal(checked.status, 0, checked.stderr);
  });

  test('the agent-sandbox v1beta1 template, warm pool and claim: strict to the CRDs, and naming each other', () => {
    const byKind = new Map(manifests('agent-sandbox').map((manifest) => [manifest.kind, manifest]));
    assert.deepEqual([...byKind.keys()].sort(), ['SandboxClaim', 'SandboxTemplate', 'SandboxWarmPool']);
    const ajv = new Ajv({ allErrors: true, strict: true });
    for (const [kind, manifest] of byKind) {
      assert.equal(manifest.apiVersion, 'extensions.agents.x-k8s.io/v1beta1', kind);
      const check = ajv.compile(AGENT_SANDBOX_V1BETA1[kind] as object);
      assert.ok(check(manifest), `${kind}: ${ajv.errorsText(check.errors)}`);
    }
    const template = byKind.get('SandboxTemplate') as Manifest;
    const podTemplate = template.spec.podTemplate as { metadata: object; spec: PodSpec };
    assert.doesNotThrow(() =>
      new Pod({ metadata: { name: 'host', ...podTemplate.metadata }, spec: podTemplate.spec } as never).validate(),
    );
    checkHostPod(podTemplate.spec, 'SandboxTemplate');
    const policy = template.spec.networkPolicy as { egress: unknown[] };
    assert.doesNotThrow(() =>
      new NetworkPolicy({ metadata: { name: 'p' }, spec: { podSelector: {}, ...policy } } as never).validate(),
    );
    assert.deepEqual(policy.egress, []);
    const pool = byKind.get('SandboxWarmPool') as Manifest;
    assert.deepEqual(pool.spec.sandboxTemplateRef, { name: template.metadata.name });
    assert.deepEqual((byKind.get('SandboxClaim') as Manifest).spec.warmPoolRef, { name: pool.metadata.name });
  });

  test('the strict check refuses an unknown field, a v1alpha1 claim shape and a missing warm pool', () => {
    const ajv = new Ajv({ allErrors: true, strict: true });
    const claim = ajv.compile(AGENT_SANDBOX_V1BETA1.SandboxClaim as object);
    const base = { apiVersion: 'extensions.agents.x-k8s.io/v1beta1', kind: 'SandboxClaim', metadata: { name: 'c' } };
    assert.equal(claim({ ...base, spec: { warmPoolRef: { name: 'p' } } }), true);
    assert.equal(claim({ ...base, spec: { sandboxTemplateRef: { name: 't' } } }), false, 'v1alpha1 shape');
    assert.equal(
      claim({ ...base, spec: { warmPoolRef: { name: 'p' }, lifecycle: { shutdownPolicy: 'Never' } } }),
      false,
    );
    const template = ajv.compile(AGENT_SANDBOX_V1BETA1.SandboxTemplate as object);
    const spec = { podTemplate: { spec: { containers: [] } } };
    assert.equal(template({ ...base, kind: 'SandboxTemplate', spec }), true);
    assert.equal(
      template({ ...base, kind: 'SandboxTemplate', spec: { ...spec, replicas: 1 } }),
      false,
      'unknown field',
    );
  });

  test("the image's entrypoint starts a listening host here (with the address and token file swapped)", async (t) => {
    const dockerfile = readFileSync(`${DEPLOY}Dockerfile`, 'utf8');
    assert.match(dockerfile, /^FROM node:24-slim$/m);
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(dockerfile, /^USER node$/m);
    const json = (instruction: string): string[] =>
      JSON.parse(
        (new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(dockerfile) as RegExpExecArray)[1] as string,
      ) as string[];
    const [node, ...flags] = json('ENTRYPOINT');
    const args = json('CMD');
    assert.equal(node, 'node');
    assert.deepEqual(args, ['--listen', '0.0.0.0:7077', '--token-file', '/var/run/codecell/token']);
    const child = spawn(process.execPath, [...flags, '--listen', '127.0.0.1:0'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CODECELL_TOKEN: 'image' },
    });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('codecell-host listening on ws://127.0.0.1:')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    child.kill('SIGTERM');
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0, 'SIGTERM drains and exits 0');
  });
});
