// The Workflow DevKit app of the workflow tests (issue 87), built as a user's build would build
// it: its workflow and step bundles made by the DevKit's own builder (@workflow/builders, what its
// framework plugins and @workflow/vitest run), in a temporary project whose node_modules link
// codecell (this repository), `workflow`, and `codecell-fixture`: the tools of
// test/fixtures/engine-tools.ts, as the worker's environment says (CODECELL_EFFECTS,
// CODECELL_MODE). Where `workflow` is not installed, buildWorkflowApp says why (the test skips).
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface WorkflowApp {
  /** The project's folder: its bundles are in `out/`. */
  dir: string;
  /** The workflow's id, for `start({ workflowId })`. */
  workflowId: string;
  remove(): void;
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export async function buildWorkflowApp(): Promise<WorkflowApp | { skip: string }> {
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
  const tools = new URL('fixtures/engine-tools.js', import.meta.url).href;
  writeFileSync(
    join(modules, 'codecell-fixture', 'package.json'),
    JSON.stringify({ name: 'codecell-fixture', type: 'module', exports: './index.js' }),
  );
  writeFileSync(
    join(modules, 'codecell-fixture', 'index.js'),
    `import { ENGINE_RETRIES, ENGINE_TOOLS, engineTools } from ${JSON.stringify(tools)};\n` +
      'const { CODECELL_EFFECTS: effects, CODECELL_MODE: mode } = process.env;\n' +
      'export const cellOptions = {\n' +
      '  tools: ENGINE_TOOLS,\n' +
      "  delegate: { invokeTool: engineTools(effects, mode, 'first') },\n" +
      '  retries: ENGINE_RETRIES,\n' +
      '};\n',
  );
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
