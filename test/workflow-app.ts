// The Workflow DevKit app of the workflow tests (issue 87), built as a user's build would build
// it: its workflow and step bundles made by the DevKit's own builder (@workflow/builders, what its
// framework plugins and @workflow/vitest run), in a temporary project whose node_modules link
// codecell (this repository), `workflow`, and `codecell-fixture`: the cell's options, by default
// the tools of test/fixtures/engine-tools.ts as the worker's environment says (CODECELL_EFFECTS,
// CODECELL_MODE). Where `workflow` is not installed, buildWorkflowApp says why (the test skips).
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LocalWorld } from '@workflow/world-local';

export interface WorkflowApp {
  /** The project's folder: its bundles are in `out/`. */
  dir: string;
  /** The workflow's id, for `start({ workflowId })`. */
  workflowId: string;
  remove(): void;
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** The engine tests' options module: engine-tools.ts's tools, in the worker's mode. */
const ENGINE_OPTIONS =
  `import { ENGINE_RETRIES, ENGINE_TOOLS, engineTools } from ${JSON.stringify(new URL('fixtures/engine-tools.js', import.meta.url).href)};\n` +
  'const { CODECELL_EFFECTS: effects, CODECELL_MODE: mode } = process.env;\n' +
  'export const cellOptions = {\n' +
  '  tools: ENGINE_TOOLS,\n' +
  "  delegate: { invokeTool: engineTools(effects, mode, 'first') },\n" +
  '  retries: ENGINE_RETRIES,\n' +
  '};\n';

/** Builds the app; `options` is the module its steps import `cellOptions` from (ES module source). */
export async function buildWorkflowApp(options = ENGINE_OPTIONS): Promise<WorkflowApp | { skip: string }> {
  let builders: typeof import('@workflow/builders');
  try {
    builders = await import('@workflow/builders');
  } catch {
    return { skip: 'the Workflow DevKit (`workflow`) is not installed: npm ci installs it' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'codecell-workflow-'));
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'codecell-fixture'), { recursive: true });
  symlinkSync(REPO, join(modules, 'codecell'));
  symlinkSync(join(REPO, 'node_modules', 'workflow'), join(modules, 'workflow'));
  writeFileSync(
    join(modules, 'codecell-fixture', 'package.json'),
    JSON.stringify({ name: 'codecell-fixture', type: 'module', exports: './index.js' }),
  );
  writeFileSync(join(modules, 'codecell-fixture', 'index.js'), options);
  cpSync(join(REPO, 'test', 'fixtures', 'workflow-app', 'workflows'), join(dir, 'workflows'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'codecell-workflow-app', type: 'module' }));

  class AppBuilder extends builders.BaseBuilder {
    override async build(): Promise<void> {
      const inputFiles = await this.getInputFiles();
      const out = join(dir, 'out');
      mkdirSync(out, { recursive: true });
      await this.createWorkflowsBundle({
        outfile: join(out, 'workflows.mjs'),
        bundleFinalOutput: false,
        format: 'esm',
        inputFiles,
      });
      await this.createStepsBundle({
        outfile: join(out, 'steps.mjs'),
        externalizeNonSteps: true,
        format: 'esm',
        inputFiles,
      });
    }
  }
  await new AppBuilder({
    ...builders.createBaseBuilderConfig({ workingDir: dir, dirs: ['.'] }),
    buildTarget: 'next', // ESM bundles that Node imports as they are
    externalPackages: ['codecell', 'codecell-fixture'],
    suppressCreateWorkflowsBundleLogs: true,
    suppressCreateWebhookBundleLogs: true,
    suppressCreateManifestLogs: true,
  }).build();
  return {
    dir,
    workflowId: 'workflow//./workflows/cell//runCell',
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The DevKit's local world in this process (its runs kept in `data`), the app's bundles as its
 * handlers, set as the world `workflow/api` uses. It takes up the runs left active in `data`.
 */
export async function startWorld(app: string, data: string): Promise<LocalWorld> {
  const { createLocalWorld } = await import('@workflow/world-local');
  const { setWorld } = await import('@workflow/core/runtime');
  const world = createLocalWorld({ dataDir: data, recoverActiveRuns: true });
  const handler = async (bundle: string): Promise<(request: Request) => Promise<Response>> =>
    ((await import(pathToFileURL(join(app, 'out', bundle)).href)) as { POST: (r: Request) => Promise<Response> }).POST;
  world.registerHandler('__wkf_workflow_', await handler('workflows.mjs'));
  world.registerHandler('__wkf_step_', await handler('steps.mjs'));
  await world.start?.();
  setWorld(world);
  return world;
}
