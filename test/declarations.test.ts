import assert from 'node:assert/strict';
import { test } from 'node:test';
import ts from 'typescript';
import { describeExecTool, renderToolDeclarations, toolIdentifier, type ToolDefinition } from '../src/index.js';
import { newRuntime, RecordingDelegate, texts } from './helpers.js';

/** Ten realistic tools, in the shapes MCP servers publish. */
const TOOLS: ToolDefinition[] = [
  {
    name: 'echo',
    description: 'Echoes back the input',
    inputSchema: {
      type: 'object',
      properties: { message: { type: 'string', description: 'Message to echo' } },
      required: ['message'],
    },
  },
  {
    name: 'add',
    description: 'Adds two numbers',
    inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
    outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
  },
  {
    name: 'get-weather',
    namespace: 'wx',
    description: 'Current weather\nfor a city',
    inputSchema: {
      type: 'object',
      properties: { city: { type: 'string' }, units: { type: 'string', enum: ['metric', 'imperial'] } },
      required: ['city'],
    },
  },
  {
    name: 'search',
    namespace: 'github',
    inputSchema: {
      type: 'object',
      properties: {
        q: { type: 'string' },
        per_page: { type: 'integer', minimum: 1 },
        sort: { anyOf: [{ const: 'stars' }, { const: 'updated' }] },
      },
      required: ['q'],
    },
    outputSchema: {
      type: 'object',
      properties: { items: { type: 'array', items: { $ref: '#/$defs/repo' } } },
      required: ['items'],
      $defs: {
        repo: {
          type: 'object',
          properties: { full_name: { type: 'string' }, stars: { type: 'integer' } },
          required: ['full_name'],
        },
      },
    },
  },
  {
    name: '2fa.check',
    description: 'Checks a one-time code',
    inputSchema: {
      type: 'object',
      properties: { code: { type: 'string' }, 'user-id': { type: ['string', 'number'] } },
      required: ['code', 'user-id'],
    },
  },
  { name: 'apply_patch', kind: 'freeform', description: 'Applies a unified diff' },
  {
    name: 'set_tags',
    inputSchema: {
      type: 'object',
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        meta: { type: 'object', additionalProperties: { type: 'number' } },
      },
      required: ['tags'],
    },
  },
  {
    name: 'create_event',
    inputSchema: {
      type: 'object',
      properties: {
        when: {
          oneOf: [
            { type: 'string' },
            { type: 'object', properties: { start: { type: 'string' }, end: { type: 'string' } }, required: ['start'] },
          ],
        },
        attendees: { type: 'array', items: { $ref: '#/definitions/person' } },
      },
      required: ['when'],
      definitions: { person: { type: 'object', properties: { email: { type: 'string' } }, required: ['email'] } },
    },
  },
  { name: 'list_files', description: 'Lists files (no input needed)', inputSchema: { type: 'object', properties: {} } },
  { name: 'ping' },
];

const GOOD_CELL = `
const r = await tools.echo({ message: 'hi' });
const s = await tools.add({ a: 1, b: 2 });
const n: number = s.sum;
await tools.wx__get_weather({ city: 'Oslo', units: 'metric' });
const found = await tools.github__search({ q: 'isolated-vm', sort: 'stars' });
const names: string[] = found.items.map((repo) => repo.full_name);
await tools._2fa_check({ code: '123', 'user-id': 7 });
await tools.apply_patch('--- a\\n+++ b');
await tools.set_tags({ tags: ['x'], meta: { weight: 1 } });
await tools.create_event({ when: { start: 'now' }, attendees: [{ email: 'a@b.c' }] });
await tools.list_files();
await tools.ping();
text(r); text(n); text(names); notify('done'); store('k', 1); load('k'); yield_control();
console.log(ALL_TOOLS.length); setTimeout(() => {}, 1); image('data:image/png;base64,AA', 'low');
export {};
`;

/** Type-checks the declarations together with a cell, in memory, with an ES-only lib. */
function typeErrors(cell: string, declarations: string): string[] {
  const files = new Map([
    ['/tools.d.ts', declarations],
    ['/cell.ts', cell],
  ]);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    lib: ['lib.es2022.d.ts'],
    strict: true,
    noEmit: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  host.getSourceFile = (name, version) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile(name, version) : ts.createSourceFile(name, text, version);
  };
  const program = ts.createProgram(['/tools.d.ts', '/cell.ts'], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

test('the rendered declarations compile with a cell that calls every tool correctly', () => {
  assert.deepEqual(typeErrors(GOOD_CELL, renderToolDeclarations(TOOLS)), []);
});

test('the rendered declarations refuse a cell that passes a wrong type', () => {
  const declarations = renderToolDeclarations(TOOLS);
  for (const wrong of [
    "await tools.add({ a: 1, b: 'two' }); export {};",
    'await tools.echo({}); export {};',
    "await tools.wx__get_weather({ city: 'x', units: 'kelvin' }); export {};",
    'await tools.apply_patch({ diff: 1 }); export {};',
    'const s: string = (await tools.add({ a: 1, b: 2 })).sum; export {};',
  ]) {
    assert.notDeepEqual(typeErrors(wrong, declarations), [], wrong);
  }
});

test('descriptions become doc comments', () => {
  const declarations = renderToolDeclarations(TOOLS);
  assert.match(declarations, /\/\*\* Adds two numbers \*\/\n {2}add\(/);
  assert.match(declarations, /\/\*\*\n {3}\* Current weather\n {3}\* for a city\n {3}\*\/\n {2}wx__get_weather\(/);
  assert.match(declarations, /\/\*\* Message to echo \*\//);
});

test('identifier normalization matches the sandbox tools keys exactly', async (t) => {
  const names: ToolDefinition[] = [
    { name: 'get-weather' },
    { name: '2fa.check' },
    { name: 'github/search' },
    { name: 'search', namespace: 'git-hub' },
    { name: '$ok_1' },
  ];
  assert.deepEqual(names.map(toolIdentifier), [
    'get_weather',
    '_2fa_check',
    'github_search',
    'git_hub__search',
    '$ok_1',
  ]);
  const runtime = newRuntime(t, new RecordingDelegate(), { tools: names });
  const event = await (await runtime.execute({ source: 'text(Object.keys(tools).join(","))' })).initialEvent;
  assert.deepEqual(texts(event), [names.map(toolIdentifier).join(',')]);
  assert.match(
    renderToolDeclarations(names),
    /\n {2}_2fa_check\(input\?: \{ \[key: string\]: unknown \}\): Promise<unknown>;/,
  );
});

test('describeExecTool gives exec and wait with schemas, semantics and the declarations', () => {
  const { exec, wait } = describeExecTool(TOOLS);
  assert.equal(exec.name, 'exec');
  assert.equal(wait.name, 'wait');
  assert.deepEqual(exec.inputSchema.required, ['source']);
  assert.deepEqual(Object.keys(exec.inputSchema.properties as object), ['source', 'yield_time_ms', 'language']);
  assert.deepEqual(Object.keys(wait.inputSchema.properties as object), ['cell_id', 'yield_time_ms', 'terminate']);
  for (const phrase of [
    'yield_control()',
    'store(key, value)',
    'pending timers do not keep it alive',
    'declare const tools',
  ]) {
    assert.ok(exec.description.includes(phrase), phrase);
  }
  assert.ok(exec.description.includes(renderToolDeclarations(TOOLS).trimEnd()));
  assert.throws(() => renderToolDeclarations('nope' as never), { code: 'ERR_INVALID_REQUEST' });
});

test('a session without tools gets a line saying so, not an empty tools block, and it still parses', () => {
  const declarations = renderToolDeclarations([]);
  assert.ok(declarations.startsWith('// No tools are available: `tools` is empty.\n'), declarations.slice(0, 80));
  assert.doesNotMatch(declarations, /declare const tools/);
  assert.match(declarations, /declare function text\(/);
  const { exec } = describeExecTool([]);
  assert.doesNotMatch(exec.description, /declare const tools/);
  assert.match(exec.description, /No tools are available/);
  const checked = ts.transpileModule(`${declarations}\ntext("ok");`, { reportDiagnostics: true });
  assert.deepEqual(checked.diagnostics, []);
});
