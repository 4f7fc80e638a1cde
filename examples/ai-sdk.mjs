import { generateText, isStepCount } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { SessionRuntime } from 'codecell';
import { codeModeTools } from 'codecell/ai-sdk';

const session = new SessionRuntime({ invokeTool: async () => null, notify: async () => {} }), usage = { inputTokens: { total: 1 }, outputTokens: { total: 1 } };
const call = { type: 'tool-call', toolCallId: '1', toolName: 'exec', input: '{"source":"text(6 * 7)","language":null,"yield_time_ms":null}' };
let step = 0; // a test model: it calls exec, then answers
const model = new MockLanguageModelV4({ doGenerate: async () => (step++ === 0
  ? { content: [call], finishReason: { unified: 'tool-calls' }, usage, warnings: [] }
  : { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop' }, usage, warnings: [] }) });
const result = await generateText({ model, tools: codeModeTools(session), prompt: 'What is 6 * 7?', stopWhen: isStepCount(2) });
console.log(result.steps[0].toolResults[0].output.output, result.text);
await session.shutdown();
