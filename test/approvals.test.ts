// A tool that pauses its cell for a person (issue 53, SPEC §13) through each framework's own
// approvals: the model's `wait` on a paused cell needs approval — the AI SDK's
// tool-approval-request / tool-approval-response, the Agents SDK's interruptions and
// state.approve() — and once approved the paused call gets its answer and the cell goes on.
// Each framework is driven end to end with its own kind of test model.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Agent, run, type ModelRequest } from '@openai/agents';
import { generateText, isStepCount, type ModelMessage } from 'ai';
import { codeModeTools as aiSdkTools } from '../adapters/ai-sdk.js';
import { codeModeTools as agentsTools } from '../adapters/openai-agents.js';
import { CellInterrupt, createCodeModeTools, type CodeModeResult, type JsonValue } from '../src/index.js';
import { agentsModel, agentsText, agentsToolCall, aiSdkModel, aiSdkText, aiSdkToolCall } from './framework-helpers.js';
import { newRuntime, RecordingDelegate } from './helpers.js';

/** A cell that asks to transfer money; the transfer tool pauses it until a person decides. */
const TRANSFER_CELL = 'const answer = await tools.transfer({ amount: 5 }); text("transfer: " + JSON.stringify(answer))';

/** A session whose `transfer` pauses its cell (CellInterrupt) with the amount as the payload. */
function pausingSession(t: TestContext) {
  const delegate = new RecordingDelegate({
    transfer: (call) => {
      throw new CellInterrupt({ approve: 'transfer', ...(call.input as { amount: number }) });
    },
  });
  const session = newRuntime(t, delegate, {
    tools: [{ name: 'transfer', inputSchema: { type: 'object', properties: { amount: { type: 'number' } } } }],
  });
  return { session, delegate };
}

/** The person's answer to the SDK's tool-approval-request, as the app sends it back. */
const approval = (approvalId: string, approved: boolean): ModelMessage => ({
  role: 'tool',
  content: [{ type: 'tool-approval-response', approvalId, approved }],
});

const execCall = { source: TRANSFER_CELL, language: null, yield_time_ms: 10_000 };
const waitCall = { cell_id: '1', yield_time_ms: 10_000, terminate: null };

test('createCodeModeTools: exec reports the pause; wait reports it again until approved, then the cell goes on', async (t) => {
  const { session, delegate } = pausingSession(t);
  const tools = createCodeModeTools(session, { approvedAnswer: (pause) => ({ result: { ok: pause.payload } }) });
  const paused = await tools.exec.execute(execCall);
  assert.equal(paused.status, 'interrupted');
  assert.deepEqual(paused.pending_tool_calls, ['tool-1']);
  assert.deepEqual(tools.paused('1')?.payload, { approve: 'transfer', amount: 5 });
  assert.equal((await tools.wait.execute(waitCall)).status, 'interrupted');
  const done = await tools.wait.execute(waitCall, { approved: true });
  assert.equal(done.status, 'completed');
  assert.equal(done.output, 'transfer: {"ok":{"approve":"transfer","amount":5}}');
  assert.equal(tools.paused('1'), undefined);
  assert.equal(delegate.calls.length, 1);
});

test('codecell/ai-sdk: a paused cell goes on through tool-approval-request and tool-approval-response', async (t) => {
  const { session, delegate } = pausingSession(t);
  const tools = aiSdkTools(session);
  const prompts: unknown[] = [];
  const model = aiSdkModel((step, prompt) => {
    prompts.push(prompt);
    if (step === 1) return aiSdkToolCall('c1', 'exec', execCall);
    if (step === 2) return aiSdkToolCall('c2', 'wait', waitCall);
    return aiSdkText('transferred');
  });
  const prompt: ModelMessage[] = [{ role: 'user', content: 'transfer 5' }];
  const first = await generateText({ model, tools, messages: prompt, stopWhen: isStepCount(5) });
  // exec reported the pause; the model's wait on it waits for a person.
  const execOutput = first.steps[0]?.toolResults[0]?.output as CodeModeResult;
  assert.equal(execOutput.status, 'interrupted');
  const request = first.content.find((part) => part.type === 'tool-approval-request');
  assert.ok(request !== undefined, JSON.stringify(first.content));
  assert.equal(request.toolCall.toolName, 'wait');
  assert.equal(delegate.calls.length, 1);

  const messages = [...prompt, ...first.response.messages, approval(request.approvalId, true)];
  const second = await generateText({ model, tools, messages, stopWhen: isStepCount(5) });
  assert.equal(second.text, 'transferred');
  // The SDK ran the approved wait before its next step: the model got its result.
  const [waited] = (prompts.at(-1) as ModelMessage[]).flatMap((message) =>
    message.role === 'tool' ? message.content.filter((part) => part.type === 'tool-result') : [],
  );
  assert.equal(waited?.toolName, 'wait');
  const output = waited?.output as { type: string; value: CodeModeResult };
  assert.equal(output.type, 'json');
  assert.equal(output.value.status, 'completed');
  assert.equal(output.value.output, 'transfer: {"approved":true}');
  assert.equal(delegate.calls.length, 1, 'the paused call was not made again');
});

test('codecell/ai-sdk: a denied wait leaves the cell paused; wait with terminate ends it unasked', async (t) => {
  const { session } = pausingSession(t);
  const tools = aiSdkTools(session);
  const model = aiSdkModel((step) => {
    if (step === 1) return aiSdkToolCall('c1', 'exec', execCall);
    if (step === 2) return aiSdkToolCall('c2', 'wait', waitCall);
    if (step === 3) return aiSdkText('denied, then');
    if (step === 4) return aiSdkToolCall('c3', 'wait', { ...waitCall, terminate: true });
    return aiSdkText('ended');
  });
  const prompt: ModelMessage[] = [{ role: 'user', content: 'transfer 5' }];
  const first = await generateText({ model, tools, messages: prompt, stopWhen: isStepCount(5) });
  const request = first.content.find((part) => part.type === 'tool-approval-request');
  assert.ok(request !== undefined);
  const messages = [...prompt, ...first.response.messages, approval(request.approvalId, false)];
  const second = await generateText({ model, tools, messages, stopWhen: isStepCount(1) });
  assert.equal(second.text, 'denied, then');
  assert.equal((await session.observe('1', { kind: 'pendingFrontier' })).kind, 'interrupted');
  const third = await generateText({ model, tools, prompt: 'stop cell 1', stopWhen: isStepCount(2) });
  assert.equal(third.content.filter((part) => part.type === 'tool-approval-request').length, 0);
  const ended = third.steps.flatMap((each) => each.toolResults)[0]?.output as CodeModeResult;
  assert.equal(ended.status, 'terminated');
});

test('codecell/openai-agents: a paused cell goes on once the run’s interruption is approved', async (t) => {
  const { session, delegate } = pausingSession(t);
  const requests: ModelRequest[] = [];
  const model = agentsModel((n, request) => {
    requests.push(request);
    if (n === 1) return agentsToolCall('c1', 'exec', execCall);
    if (n === 2) return agentsToolCall('c2', 'wait', waitCall);
    return agentsText('transferred');
  });
  const agent = new Agent({ name: 'payer', instructions: 'Use exec.', model, tools: agentsTools(session) });
  const first = await run(agent, 'transfer 5');
  assert.equal(first.interruptions.length, 1, JSON.stringify(first.interruptions));
  const [interruption] = first.interruptions;
  assert.equal((interruption?.rawItem as { name?: string }).name, 'wait');
  assert.match(JSON.stringify(requests.at(-1)?.input), /paused at tools\.transfer \(tool-1\)/);
  first.state.approve(interruption as NonNullable<typeof interruption>);
  const second = await run(agent, first.state);
  assert.equal(second.finalOutput, 'transferred');
  assert.match(JSON.stringify(requests.at(-1)?.input), /transfer: \{\\"approved\\":true\}\\ncell 1 completed/);
  assert.equal(delegate.calls.length, 1);
  assert.deepEqual(delegate.calls[0]?.input as JsonValue, { amount: 5 });
});
