#!/usr/bin/env node
// The API report: what each entry point publishes, as API Extractor reads the built declarations
// (dist/). `node scripts/api-report.js` compares them with the reports checked in under api/ and
// exits 1 on a difference or on a message worth fixing (an undocumented export, a type that is
// not exported, a third-party type in a signature); `--update` rewrites the reports.
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Each package entry point and the declarations it publishes (package.json "exports"). */
export const ENTRY_POINTS = {
  codecell: 'dist/src/index.d.ts',
  'codecell-host': 'dist/host/index.d.ts',
  'codecell-testing': 'dist/host/in-process.d.ts',
  'codecell-ai-sdk': 'dist/adapters/ai-sdk.d.ts',
  'codecell-openai-agents': 'dist/adapters/openai-agents.d.ts',
  'codecell-tanstack': 'dist/adapters/tanstack.d.ts',
  'codecell-dbos': 'dist/adapters/dbos.d.ts',
  'codecell-restate': 'dist/adapters/restate.d.ts',
  'codecell-workflow': 'dist/adapters/workflow.d.ts',
};

/** API Extractor's configuration for one entry point: the report only, under api/. */
function extractorConfig(name, entry) {
  return ExtractorConfig.prepare({
    configObject: {
      projectFolder: ROOT,
      mainEntryPointFilePath: `<projectFolder>/${entry}`,
      compiler: { tsconfigFilePath: '<projectFolder>/tsconfig.json' },
      apiReport: {
        enabled: true,
        reportFileName: `${name}.api.md`,
        reportFolder: '<projectFolder>/api/',
        reportTempFolder: '<projectFolder>/dist/api-temp/',
      },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          'ae-missing-release-tag': { logLevel: 'none' },
          // Checked below on the report: every export documented (members may rely on their names).
          'ae-undocumented': { logLevel: 'none' },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: `${ROOT}/package.json`,
  });
}

/** The names an API report declares as exports. */
function exportedNames(report) {
  return new Set(
    [...report.matchAll(/^export (?:declare )?(?:abstract )?(?:class|interface|type|function|const|enum) (\w+)/gm)].map(
      (m) => m[1],
    ),
  );
}

/** Runs API Extractor on every entry point; resolves with the problems found (none: all well). */
export function apiReport({ update = false } = {}) {
  const problems = [];
  /** A type an entry point uses but another one exports is fine: the user imports it from there. */
  const forgotten = [];
  const reports = [];
  for (const [name, entry] of Object.entries(ENTRY_POINTS)) {
    const config = extractorConfig(name, entry);
    const result = Extractor.invoke(config, {
      localBuild: update,
      messageCallback: (message) => {
        if (message.messageId === 'ae-forgotten-export') {
          forgotten.push({ name, symbol: /"([^"]+)"/.exec(message.text)?.[1] ?? '', text: message.text });
        } else if (
          !message.messageId.startsWith('console-api-report') &&
          ['warning', 'error'].includes(message.logLevel)
        ) {
          const where =
            message.sourceFilePath === undefined
              ? ''
              : ` (${message.sourceFilePath.replace(ROOT, '')}:${message.sourceFileLine})`;
          problems.push(`${name}: ${message.messageId} ${message.text}${where}`);
        }
        message.handled = true;
      },
    });
    const report = readFileSync(update ? config.reportFilePath : config.reportTempFilePath, 'utf8');
    reports.push(report);
    for (const match of report.matchAll(/^\/\/ @public \(undocumented\)\n(export [^\n]*)/gm))
      problems.push(`${name}: no JSDoc on ${match[1].slice(0, 80)}`);
    if (!update && result.apiReportChanged)
      problems.push(
        `${name}: the public API differs from api/${name}.api.md (npm run api:update, then review the diff)`,
      );
  }
  const everywhere = new Set(reports.flatMap((report) => [...exportedNames(report)]));
  for (const { name, symbol, text } of forgotten) if (!everywhere.has(symbol)) problems.push(`${name}: ${text}`);
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = apiReport({ update: process.argv.includes('--update') });
  for (const problem of problems) console.log(problem);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
