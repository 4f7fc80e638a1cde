// Approvals as each framework means them (issues 53 and 65, SPEC §13): a tool its framework marks
// `needsApproval` pauses the cell that calls it; the model's `wait` on that cell needs the
// framework's approval — the AI SDK's tool-approval-request / -response, the Agents SDK's
// interruptions and state.approve() / reject(). Approved, the real tool runs with the cell's
// input; denied, the model's next wait declines the call, which fails in the cell. A cell paused
// at three calls is settled one by one. Each framework is driven with its own kind of test model,
// and the tools' effect is checked.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Agent, run, tool as agentsTool, type ModelRequest } from '@openai/agents';
import { generateText, isStepCount, tool as aiSdkTool, type ModelMessage } from 'ai';
import { z } from 'zod';
import { aiSdkToolSource, codeModeToolApproval, codeModeTools as aiSdkTools } from '../adapters/ai-sdk.js';
import { agentsToolSource, codeModeTools as agentsTools } from '../adapters/openai-agents.js';
import { tanstackToolSource } from '../adapters/tanstack.js';
import {
  CellInterrupt,
  createCodeModeTools,
  type CodeModeResult,
  type SessionRuntimeDelegate,
  type ToolDefinition,
} from '../src/index.js';
import { agentsModel, agentsText, agentsToolCall, aiSdkModel, aiSdkText, aiSdkToolCall } from './framework-helpers.js';
import { newRuntime, RecordingDelegate } from './helpers.js';

/** Deletes three accounts at once and says how each went. */
const DELETE_THREE = `
const settled = await Promise.allSettled([1, 2, 3].map((id) => tools.deleteAccount({ id })));
text(settled.map((each) => each.status === 'fulfilled' ? 'deleted ' + each.value.deleted : each.reason.message).join('; '));`;
const DECLINED = 'tools.deleteAccount was not run: a person declined this call';

const execCall = { source: DELETE_THREE, language: null, yield_time_ms: 10_000 };
const waitCall = (cellId = '1') => ({ cell_id: cellId, yield_time_ms: 10_000, terminate: null });

/** A session over a tool source's tools and delegate. */
function sessionOf(
  t: TestContext,
  source: { tools: ToolDefinition[]; delegate: Pick<SessionRuntimeDelegate, 'invokeTool'> },
) {
  return newRuntime(t, { ...source.delegate, notify: async () => {} }, { tools: source.tools });
}

/** Of three deletions, two approved and the third declined: what the cell says, and what was deleted. */
function assertTwoOfThree(deleted: number[], output: string): void {
  assert.equal(deleted.length, 2, `two accounts deleted: ${JSON.stringify(deleted)}`);
  const lines = output.split('; ');
  assert.equal(lines.length, 3, output);
  for (const [index, line] of lines.entries())
    assert.equal(line, deleted.includes(index + 1) ? `deleted ${index + 1}` : DECLINED, output);
}

/** The results the tools gave the model so far (AI SDK prompt), newest last. */
function aiSdkResults(prompt: unknown): CodeModeResult[] {
  return (prompt as ModelMessage[]).flatMap((message) =>
    message.role === 'tool'
      ? message.content.flatMap((part) =>
          part.type === 'tool-result' ? [(part.output as unknown as { value: CodeModeResult }).value] : [],
        )
      : [],
  );
}

test('codecell/ai-sdk: needsApproval tools pause the cell; approved they run, two of three, then one declined', async (t) => {
  const deleted: number[] = [];
  const source = await aiSdkToolSource({
    deleteAccount: aiSdkTool({
      description: 'Deletes an account',
      inputSchema: z.object({ id: z.number() }),
      needsApproval: true,
      execute: async ({ id }) => {
        deleted.push(id);
        return { deleted: id };
      },
    }),
  });
  const tools = aiSdkTools(sessionOf(t, source));
  const seen: CodeModeResult[][] = [];
  let waits = 0;
  // The model: exec, then wait on the cell until it is done.
  const model = aiSdkModel((step, prompt) => {
    const results = aiSdkResults(prompt);
    seen.push(results);
    if (step === 1) return aiSdkToolCall('exec-1', 'exec', execCall);
    if (results.at(-1)?.status === 'completed') return aiSdkText('done');
    return aiSdkToolCall(`wait-${++waits}`, 'wait', waitCall());
  });
  let messages: ModelMessage[] = [{ role: 'user', content: 'delete accounts 1 to 3' }];
  const decide = async (approved: boolean) => {
    const result = await generateText({ model, tools, messages, stopWhen: isStepCount(10) });
    messages = [...messages, ...result.responseMessages]; // with the approved calls' results
    const request = result.content.find((part) => part.type === 'tool-approval-request');
    if (request === undefined) return result;
    assert.equal(request.toolCall.toolName, 'wait');
    const response = { type: 'tool-approval-response' as const, approvalId: request.approvalId, approved };
    messages.push({ role: 'tool', content: [response] });
    return result;
  };

  await decide(true); // exec pauses at the first deletion; the wait on it is approved
  const first = seen.at(-1)?.at(-1);
  assert.equal(first?.status, 'interrupted');
  assert.match(
    String(first?.error),
    /^paused at tools\.deleteAccount \(tool-1\): \{"approve":"tools\.deleteAccount","input":\{"id":1\}\}$/,
  );
  assert.equal(deleted.length, 0, 'nothing is deleted before a person approves');
  await decide(true); // the first is made; the cell pauses at the second, approved too
  assert.deepEqual(deleted, [1]);
  await decide(false); // the second is made; the third waits under its id, and is declined
  assert.equal(deleted.length, 2);
  const third = seen.at(-1)?.at(-1);
  assert.equal(third?.status, 'interrupted');
  assert.equal(third?.pending_tool_calls.length, 1);
  assert.ok(!deleted.includes(Number(third?.pending_tool_calls[0]?.slice('tool-'.length))), 'the third waits');
  const last = await decide(true); // denied: the model's next wait declines it
  assert.equal(last.text, 'done');
  assert.equal(seen.at(-1)?.at(-1)?.status, 'completed');
  assertTwoOfThree(deleted, String(seen.at(-1)?.at(-1)?.output));
});

test('codecell/ai-sdk: codeModeToolApproval makes the approval request name the paused call', async (t) => {
  const deleted: number[] = [];
  const source = await aiSdkToolSource({
    deleteAccount: aiSdkTool({
      inputSchema: z.object({ id: z.number() }),
      needsApproval: true,
      execute: async ({ id }) => (deleted.push(id), { deleted: id }),
    }),
  });
  const tools = aiSdkTools(sessionOf(t, source));
  const model = aiSdkModel((step) =>
    step === 1
      ? aiSdkToolCall('exec-1', 'exec', {
          ...execCall,
          source: 'text(JSON.stringify(await tools.deleteAccount({ id: 7 })))',
        })
      : step === 2
        ? aiSdkToolCall('wait-1', 'wait', waitCall())
        : aiSdkText('done'),
  );
  const prompt: ModelMessage[] = [{ role: 'user', content: 'delete account 7' }];
  const toolApproval = codeModeToolApproval(tools);
  const first = await generateText({ model, tools, toolApproval, messages: prompt, stopWhen: isStepCount(5) });
  const request = first.content.find((part) => part.type === 'tool-approval-request');
  assert.equal(request?.reason, 'A cell wants to call tools.deleteAccount({"id":7})');
  assert.equal(request?.toolCall.toolName, 'wait');
  const response = { type: 'tool-approval-response' as const, approvalId: request.approvalId, approved: true };
  const messages = [...prompt, ...first.responseMessages, { role: 'tool' as const, content: [response] }];
  const second = await generateText({ model, tools, toolApproval, messages, stopWhen: isStepCount(5) });
  assert.equal(second.text, 'done');
  assert.deepEqual(deleted, [7]);
  assert.throws(() => codeModeToolApproval({}), /give the tools codeModeTools made/);
});

test('codecell/ai-sdk: needsApproval as a function of the input asks only when it says so', async (t) => {
  const made: number[] = [];
  const source = await aiSdkToolSource({
    refund: aiSdkTool({
      inputSchema: z.object({ amount: z.number() }),
      needsApproval: async ({ amount }) => amount > 100,
      execute: async ({ amount }) => {
        made.push(amount);
        return amount;
      },
    }),
  });
  const session = sessionOf(t, source);
  const small = await session.execute({ source: 'text(String(await tools.refund({ amount: 5 })))' });
  assert.deepEqual((await small.initialEvent).items, [{ type: 'text', text: '5' }]);
  const large = await session.execute({ source: 'text(String(await tools.refund({ amount: 500 })))' });
  const paused = await large.initialEvent;
  assert.equal(
    paused.kind === 'interrupted' && JSON.stringify(paused.payload),
    '{"approve":"tools.refund","input":{"amount":500}}',
  );
  assert.deepEqual(made, [5]);
  const done = await session.resumeCell(large.cellId, { approved: true });
  assert.deepEqual(done.items, [{ type: 'text', text: '500' }]);
  assert.deepEqual(made, [5, 500]);
});

test('codecell/openai-agents: needsApproval tools pause the cell; approve, approve, then reject', async (t) => {
  const deleted: number[] = [];
  const source = agentsToolSource([
    agentsTool({
      name: 'deleteAccount',
      description: 'Deletes an account',
      parameters: z.object({ id: z.number() }),
      needsApproval: true,
      execute: async ({ id }) => {
        deleted.push(id);
        return { deleted: id };
      },
    }),
  ]);
  const requests: ModelRequest[] = [];
  let waits = 0;
  // The model: exec, then wait on the cell until its result says it completed.
  const model = agentsModel((n, request) => {
    requests.push(request);
    if (n === 1) return agentsToolCall('exec-1', 'exec', execCall);
    if (/cell 1 completed/.test(JSON.stringify(request.input).slice(-400))) return agentsText('done');
    return agentsToolCall(`wait-${++waits}`, 'wait', waitCall());
  });
  const agent = new Agent({
    name: 'admin',
    instructions: 'Use exec.',
    model,
    tools: agentsTools(sessionOf(t, source)),
  });
  let result = await run(agent, 'delete accounts 1 to 3');
  for (const approved of [true, true, false]) {
    assert.equal(result.interruptions.length, 1, JSON.stringify(result.interruptions));
    const [interruption] = result.interruptions;
    assert.equal((interruption?.rawItem as { name?: string }).name, 'wait');
    if (approved) result.state.approve(interruption as NonNullable<typeof interruption>);
    else result.state.reject(interruption as NonNullable<typeof interruption>);
    if (!approved) assert.equal(deleted.length, 2, 'two approved, the third waits');
    result = await run(agent, result.state);
  }
  assert.equal(result.finalOutput, 'done');
  assert.match(JSON.stringify(requests[1]?.input), /paused at tools\.deleteAccount \(tool-1\)/);
  const output = /deleted \d[^"]*?(?=\\ncell 1 completed)/.exec(JSON.stringify(requests.at(-1)?.input))?.[0];
  assertTwoOfThree(deleted, String(output).replaceAll('\\n', '\n'));
});

test('codecell/tanstack: a server tool with needsApproval pauses its cell; approved it runs, declined it does not', async (t) => {
  const made: string[] = [];
  const source = await tanstackToolSource([
    {
      name: 'publish',
      inputSchema: z.object({ post: z.string() }),
      needsApproval: true,
      execute: (async ({ post }: { post: string }) => {
        made.push(post);
        return 'published';
      }) as never,
    },
  ]);
  const codeMode = createCodeModeTools(sessionOf(t, source));
  const cell = (post: string) => ({
    source: `try { text(await tools.publish({ post: ${JSON.stringify(post)} })) } catch (e) { text(e.message) }`,
  });
  assert.equal((await codeMode.exec.execute(cell('hello'))).status, 'interrupted');
  assert.equal((await codeMode.wait.execute({ cell_id: '1' })).status, 'interrupted', 'waits for a decision');
  assert.equal((await codeMode.wait.execute({ cell_id: '1' }, { approved: true })).output, 'published');
  assert.equal((await codeMode.exec.execute(cell('spam'))).status, 'interrupted');
  const declined = await codeMode.wait.execute({ cell_id: '2' }, { approved: false, declineReason: 'no spam' });
  assert.equal(declined.output, 'tools.publish was not run: a person declined this call: no spam');
  assert.deepEqual(made, ['hello']);
});

test('createCodeModeTools: approvedAnswer still decides what an approved call gets', async (t) => {
  const delegate = new RecordingDelegate({
    transfer: (call) => {
      throw new CellInterrupt({ approve: 'transfer', ...(call.input as { amount: number }) });
    },
  });
  const session = newRuntime(t, delegate, { tools: [{ name: 'transfer' }] });
  const tools = createCodeModeTools(session, { approvedAnswer: (pause) => ({ result: { ok: pause.payload } }) });
  const paused = await tools.exec.execute({ source: 'text(JSON.stringify(await tools.transfer({ amount: 5 })))' });
  assert.equal(paused.status, 'interrupted');
  assert.deepEqual(paused.pending_tool_calls, ['tool-1']);
  assert.deepEqual(tools.paused('1')?.payload, { approve: 'transfer', amount: 5 });
  const done = await tools.wait.execute({ cell_id: '1' }, { approved: true });
  assert.equal(done.output, '{"ok":{"approve":"transfer","amount":5}}');
  assert.equal(tools.paused('1'), undefined);
  assert.equal(delegate.calls.length, 1);
});
