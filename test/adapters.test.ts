// The framework adapters (issue 19), each driven end to end by the framework itself with its own
// kind of test model: the model calls exec, gets a yielded cell, calls wait, and gets the result.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { Agent, run, tool as agentsTool, type ModelRequest } from '@openai/agents';
import { createCodeModeTool } from '@tanstack/ai-code-mode';
import { toolDefinition } from '@tanstack/ai';
import { generateText, isStepCount, jsonSchema, tool } from 'ai';
import { z } from 'zod';
import { aiSdkToolSource, codeModeTools as aiSdkTools } from '../adapters/ai-sdk.js';
import { agentsToolSource, codeModeTools as agentsTools } from '../adapters/openai-agents.js';
import { codecellIsolateDriver, tanstackToolSource } from '../adapters/tanstack.js';
import { SessionBuilder } from '../host/index.js';
import {
  createCodeModeTools,
  renderToolDeclarations,
  type CellStreamEvent,
  type CodeModeResult,
  type SessionRuntimeDelegate,
  type ToolDefinition,
} from '../src/index.js';
import { agentsModel, agentsText, agentsToolCall, aiSdkModel, aiSdkText, aiSdkToolCall } from './framework-helpers.js';
import { capturingLogger, newRuntime, RecordingDelegate } from './helpers.js';

/**
 * A cell that outputs, yields (exec returns: by yield_control(), not by a clock, so a loaded
 * machine cannot make it return before "started"), then finishes (wait returns it).
 */
const SLOW_CELL =
  'text("started"); yield_control(); await new Promise((r) => setTimeout(r, 300)); ' +
  'text("finished: " + (await tools.add({ a: 2, b: 3 })))';
const ADD = {
  name: 'add',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
};

function builder(): SessionBuilder {
  return new SessionBuilder({ logger: capturingLogger() }).withTools([ADD], {
    invokeTool: async (call) => (call.input as { a: number; b: number }).a + (call.input as { a: number; b: number }).b,
  });
}

const cellIdIn = (value: unknown): string =>
  /cell[_ ]id\W+(\d+)/.exec(JSON.stringify(value))?.[1] ?? assert.fail(`no cell id in ${JSON.stringify(value)}`);

test('createCodeModeTools: strict-mode schemas, exec yields, wait completes, an abort terminates, a finished cell is explained', async (t) => {
  const session = newRuntime(
    t,
    new RecordingDelegate({
      add: (call) => (call.input as { a: number; b: number }).a + (call.input as { a: number; b: number }).b,
    }),
    { tools: [ADD] },
  );
  const { exec, wait } = createCodeModeTools(session, { tools: [ADD] });
  for (const schema of [exec.inputSchema, wait.inputSchema, exec.outputSchema]) {
    const { properties, required, additionalProperties } = schema as {
      properties: object;
      required: string[];
      additionalProperties: boolean;
    };
    assert.deepEqual([...required].sort(), Object.keys(properties).sort(), 'every field required (OpenAI strict mode)');
    assert.equal(additionalProperties, false);
    for (const [name, property] of Object.entries(properties))
      assert.ok('type' in (property as object), `${name} has a type (OpenAI strict mode)`);
  }
  assert.match(exec.description, /add\(/);
  const returned = await exec.execute({ source: 'return { n: 42 }', language: null, yield_time_ms: null });
  assert.equal(returned.result, '{"n":42}', 'a returned value, as JSON text');
  const nothing = await exec.execute({ source: 'text(1)', language: null, yield_time_ms: null });
  assert.equal(nothing.result, null);
  const first = await exec.execute({ source: SLOW_CELL, language: null, yield_time_ms: 10_000 });
  assert.equal(first.status, 'yielded');
  assert.equal(first.output, 'started');
  const done = await wait.execute({ cell_id: first.cell_id, yield_time_ms: 10_000, terminate: null });
  assert.deepEqual({ status: done.status, output: done.output }, { status: 'completed', output: 'finished: 5' });
  await assert.rejects(
    wait.execute({ cell_id: first.cell_id, yield_time_ms: null, terminate: null }),
    /already returned/,
  );
  const typed = await exec.execute({
    source: 'const n: number = 1; text(String(n))',
    language: null,
    yield_time_ms: null,
  });
  assert.equal(typed.output, '1', 'language auto strips types');
  const failed = await exec.execute({ source: 'text("a")\nnull.x', language: null, yield_time_ms: null });
  assert.equal(failed.status, 'failed');
  assert.match(failed.error ?? '', /cell\.js:2:/, 'the error names the line of the cell');
  const controller = new AbortController();
  const aborted = exec.execute(
    { source: 'await new Promise(() => {})', language: null, yield_time_ms: 60_000 },
    { signal: controller.signal },
  );
  setTimeout(() => controller.abort(new Error('the agent run was aborted')), 50);
  await assert.rejects(aborted, /aborted/);
  const replay: CellStreamEvent[] = [];
  for await (const event of session.events(String(Number(failed.cell_id) + 1), { from: 'start' })) replay.push(event);
  const closed = replay.at(-1);
  assert.equal(
    closed?.type === 'closed' ? closed.event.kind : closed?.type,
    'terminated',
    'the aborted cell was terminated',
  );
});

test("createCodeModeTools: bad input is a CodeCellError naming the tool's own parameter", async (t) => {
  const { exec, wait } = createCodeModeTools(newRuntime(t, new RecordingDelegate()));
  await assert.rejects(exec.execute({ source: 5 as never }), {
    code: 'ERR_INVALID_REQUEST',
    message: 'exec: source must be a string',
  });
  await assert.rejects(exec.execute({ code: 'text(1)' } as never), {
    code: 'ERR_INVALID_REQUEST',
    message: 'exec: unknown argument "code" (it takes source, language, yield_time_ms)',
  });
  await assert.rejects(exec.execute({ source: ' ' }), {
    code: 'ERR_INVALID_REQUEST',
    message: 'exec: source is empty',
  });
  await assert.rejects(exec.execute({ source: 'text(1)', language: 'python' as never }), {
    code: 'ERR_INVALID_REQUEST',
    message: 'exec: language must be javascript, typescript or auto, got "python"',
  });
  await assert.rejects(wait.execute({ cell_id: 1 as never }), {
    code: 'ERR_INVALID_REQUEST',
    message: 'wait: cell_id must be a string',
  });
});

test('codecell/ai-sdk: generateText with a mock model runs exec, then wait, through the AI SDK', async (t) => {
  const session = await builder().start();
  t.after(() => session.shutdown());
  const tools = aiSdkTools(session);
  const model = aiSdkModel((step, prompt) => {
    if (step === 1) return aiSdkToolCall('c1', 'exec', { source: SLOW_CELL, language: null, yield_time_ms: 10_000 });
    if (step === 2)
      return aiSdkToolCall('c2', 'wait', { cell_id: cellIdIn(prompt), yield_time_ms: 10_000, terminate: null });
    return aiSdkText('all done');
  });
  const result = await generateText({ model, tools, prompt: 'add 2 and 3 in a cell', stopWhen: isStepCount(3) });
  assert.equal(result.text, 'all done');
  const outputs = result.steps.flatMap((s) => s.toolResults.map((r) => r.output as CodeModeResult));
  assert.deepEqual(
    outputs.map((o) => [o.status, o.output]),
    [
      ['yielded', 'started'],
      ['completed', 'finished: 5'],
    ],
  );
});

test('codecell/openai-agents: an Agent with a fake Model runs exec, then wait, through the Agents SDK', async () => {
  const requests: ModelRequest[] = [];
  const model = agentsModel((n, request) => {
    requests.push(request);
    if (n === 1) return agentsToolCall('c1', 'exec', { source: SLOW_CELL, language: null, yield_time_ms: 10_000 });
    if (n === 2)
      return agentsToolCall('c2', 'wait', { cell_id: cellIdIn(request.input), yield_time_ms: 10_000, terminate: null });
    return agentsText('all done');
  });
  const session = await builder().start();
  try {
    const agent = new Agent({ name: 'coder', instructions: 'Use exec.', model, tools: agentsTools(session) });
    const result = await run(agent, 'add 2 and 3 in a cell');
    assert.equal(result.finalOutput, 'all done');
    const toolOutputs = JSON.stringify(requests.at(-1)?.input);
    assert.match(toolOutputs, /started\\ncell \d+ is still running; call wait/);
    assert.match(toolOutputs, /finished: 5\\ncell \d+ completed/);
    assert.equal(requests[0]?.tools.find((tool) => tool.name === 'exec')?.type, 'function');
  } finally {
    await session.shutdown();
  }
});

test('codecell/tanstack: TanStack Code Mode runs its code in codecell through the IsolateDriver', async () => {
  const getWeather = toolDefinition({
    name: 'getWeather',
    description: 'The weather in a city',
    inputSchema: z.object({ city: z.string() }),
    outputSchema: z.object({ city: z.string(), celsius: z.number() }),
  }).server(async ({ city }) => ({ city, celsius: city.length }));
  const codeMode = createCodeModeTool({
    driver: codecellIsolateDriver({ logger: capturingLogger() }),
    tools: [getWeather],
    timeout: 5_000,
  });
  const execute = codeMode.execute as (input: {
    typescriptCode: string;
  }) => Promise<{ success: boolean; result?: unknown; logs?: string[]; error?: { message: string } }>;
  const ok = await execute({
    typescriptCode:
      'const w: { celsius: number } = await external_getWeather({ city: "Oslo" }); console.log("looked up"); return { doubled: w.celsius * 2 };',
  });
  assert.deepEqual(ok, { success: true, result: { doubled: 8 }, logs: ['looked up'] });
  const failed = await execute({ typescriptCode: 'await external_getWeather({ city: 3 })' });
  assert.equal(failed.success, false);
  assert.match(failed.error?.message ?? '', /input\.city must be string/);
  const quick = createCodeModeTool({
    driver: codecellIsolateDriver({ logger: capturingLogger() }),
    tools: [getWeather],
    timeout: 200,
  });
  const slow = await (quick.execute as typeof execute)({ typescriptCode: 'await new Promise(() => {})' });
  assert.equal(slow.success, false);
  assert.match(slow.error?.message ?? '', /stopped/);
});

test('the README adapter examples run as printed, each under 15 lines', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const printed: Record<string, string> = {
    'ai-sdk': '42 done\n',
    'openai-agents': '42\ncell 1 completed done\n',
    tanstack: '{ success: true, result: 21, logs: [] }\n',
  };
  for (const [name, expected] of Object.entries(printed)) {
    const example = readFileSync(new URL(`../../examples/${name}.mjs`, import.meta.url), 'utf8');
    assert.ok(readme.includes(example), `the README shows examples/${name}.mjs as it is`);
    assert.ok(example.trimEnd().split('\n').length < 15, `examples/${name}.mjs is under 15 lines`);
    const { status, stdout, stderr } = spawnSync(process.execPath, ['--no-node-snapshot', `examples/${name}.mjs`], {
      cwd: new URL('../..', import.meta.url),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(status, 0, stderr);
    assert.equal(stdout, expected, name);
  }
});

/**
 * A framework's tools as a built session's tools: its `add` answers, and a misfit input is refused
 * by the session before the framework's tool sees it.
 */
async function sessionOfSource(
  t: TestContext,
  source: { tools: ToolDefinition[]; delegate: Pick<SessionRuntimeDelegate, 'invokeTool'> },
) {
  const session = await new SessionBuilder({ logger: capturingLogger() })
    .withTools(source.tools, source.delegate)
    .start();
  t.after(() => session.shutdown());
  const cell = await session.execute({
    source:
      'text(await tools.add({ a: 2, b: 40 }));\n' +
      'try { await tools.add({ a: "2", b: 40 }) } catch (e) { text(e.name + ": " + e.message) }',
  });
  assert.deepEqual((await cell.initialEvent).items, [
    { type: 'text', text: '42' },
    { type: 'text', text: 'TypeError: tools.add: input.a must be number' },
  ]);
  return session;
}

test("codecell/ai-sdk: an AI SDK tool set becomes a session's tools, schemas checked, signals passed", async (t) => {
  const seen: { input: unknown; toolCallId: string; aborted: () => boolean }[] = [];
  const toolSet = {
    add: tool({
      description: 'Adds two numbers',
      inputSchema: z.object({ a: z.number(), b: z.number() }),
      execute: async ({ a, b }, { toolCallId }) => (
        seen.push({ input: { a, b }, toolCallId, aborted: () => false }),
        a + b
      ),
    }),
    wait: tool({
      inputSchema: jsonSchema<{ ms: number }>({
        type: 'object',
        properties: { ms: { type: 'number' } },
        required: ['ms'],
      }),
      execute: (input, { toolCallId, abortSignal }) =>
        new Promise((resolve) => {
          seen.push({ input, toolCallId, aborted: () => abortSignal?.aborted === true });
          abortSignal?.addEventListener('abort', () => resolve('stopped'));
        }),
    }),
  };
  const source = await aiSdkToolSource(toolSet);
  assert.deepEqual(
    source.tools.map((each) => each.name),
    ['add', 'wait'],
  );
  // Without its await, the source is a promise: both ways of passing it say so.
  const unawaited = aiSdkToolSource(toolSet);
  const { tools: noTools, delegate: noDelegate } = unawaited as never as typeof source;
  assert.throws(() => new SessionBuilder().withTools(noTools, noDelegate), {
    code: 'ERR_INVALID_REQUEST',
    message:
      'withTools takes an array of tool definitions, got undefined (is your tool source a Promise? ' +
      'aiSdkToolSource is async: await it)',
  });
  assert.throws(() => newRuntime(t, unawaited as never), {
    code: 'ERR_INVALID_REQUEST',
    message: 'delegate is a Promise: await it first (aiSdkToolSource(…) is async)',
  });
  await unawaited;
  assert.equal(source.tools[0]?.description, 'Adds two numbers');
  assert.deepEqual(source.tools[1], {
    name: 'wait',
    inputSchema: { type: 'object', properties: { ms: { type: 'number' } }, required: ['ms'] },
  });
  const session = await sessionOfSource(t, source);
  assert.deepEqual(
    seen.map(({ input, toolCallId }) => ({ input, toolCallId })),
    [{ input: { a: 2, b: 40 }, toolCallId: 'tool-1' }],
  );
  const waiting = await session.execute({ source: 'await tools.wait({ ms: 1 })' }, { kind: 'pendingFrontier' });
  assert.equal((await waiting.initialEvent).kind, 'pending');
  await session.terminate(waiting.cellId);
  assert.equal(seen.at(-1)?.aborted(), true, "the cell's signal reached the tool's execute as its abortSignal");
  await assert.rejects(aiSdkToolSource({ bare: { inputSchema: z.object({}) } } as never), /tool bare has no execute/);
});

test("codecell/ai-sdk: a tool's outputSchema types its result in the declarations the model reads", async () => {
  const source = await aiSdkToolSource({
    weather: tool({
      inputSchema: z.object({ city: z.string() }),
      outputSchema: z.object({ celsius: z.number(), sky: z.enum(['clear', 'cloudy']) }),
      execute: async () => ({ celsius: 21, sky: 'clear' as const }),
    }),
  });
  assert.match(
    renderToolDeclarations(source.tools),
    /weather\(input: \{\n\s+city: string;\n\s+\}\): Promise<\{\n\s+celsius: number;\n\s+sky: "clear" \| "cloudy";\n\s+\}>;/,
  );
});

test("codecell/tanstack: TanStack server tools become a session's tools, schemas converted as TanStack does", async (t) => {
  const calls: unknown[] = [];
  const add = toolDefinition({
    name: 'add',
    description: 'Adds two numbers',
    inputSchema: z.object({ a: z.number(), b: z.number() }),
  }).server(async ({ a, b }) => (calls.push({ a, b }), a + b));
  const source = await tanstackToolSource([add]);
  assert.deepEqual(
    source.tools.map(({ name, description }) => [name, description]),
    [['add', 'Adds two numbers']],
  );
  assert.deepEqual((source.tools[0]?.inputSchema as { required?: unknown }).required, ['a', 'b']);
  const session = await sessionOfSource(t, source);
  assert.deepEqual(calls, [{ a: 2, b: 40 }], 'the server function ran once; the bad input never reached it');
  await session.shutdown();
  await assert.rejects(
    tanstackToolSource([{ name: 'bare', inputSchema: z.object({}) }]),
    /tool bare has no server function/,
  );
});

test("codecell/openai-agents: Agents SDK function tools become a session's tools, run as the SDK runs them", async (t) => {
  const signals: AbortSignal[] = [];
  const tools = [
    agentsTool({
      name: 'add',
      description: 'Adds two numbers',
      parameters: z.object({ a: z.number(), b: z.number() }),
      execute: async ({ a, b }) => a + b,
    }),
    agentsTool({
      name: 'hold',
      description: 'Waits until stopped',
      parameters: z.object({}),
      execute: (_input, _context, details) =>
        new Promise<string>((resolve) => {
          if (details?.signal !== undefined) signals.push(details.signal);
          details?.signal?.addEventListener('abort', () => resolve('stopped'));
        }),
    }),
  ];
  const source = agentsToolSource(tools);
  assert.deepEqual(
    source.tools.map(({ name, description }) => [name, description]),
    [
      ['add', 'Adds two numbers'],
      ['hold', 'Waits until stopped'],
    ],
  );
  const session = await sessionOfSource(t, source);
  const holding = await session.execute({ source: 'await tools.hold({})' }, { kind: 'pendingFrontier' });
  assert.equal((await holding.initialEvent).kind, 'pending');
  await session.terminate(holding.cellId);
  assert.equal(signals.at(-1)?.aborted, true, "the cell's signal reached the tool");
  assert.throws(() => agentsToolSource([{ type: 'hosted_tool', name: 'web_search' } as never]), /not a function tool/);
});
