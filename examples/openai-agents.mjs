import { Agent, run, setTracingDisabled, Usage } from '@openai/agents';
import { SessionRuntime } from 'codecell';
import { codeModeTools } from 'codecell/openai-agents';

setTracingDisabled(true); // no OpenAI account in this example
const session = new SessionRuntime({ invokeTool: async () => null, notify: async () => {} });
const call = { type: 'function_call', callId: '1', name: 'exec', arguments: '{"source":"text(6 * 7)","language":null,"yield_time_ms":null}', status: 'completed' };
const answer = { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'done' }] };
let step = 0; // a test model: it calls exec, then answers
const model = { getResponse: async () => ({ usage: new Usage(), output: [step++ === 0 ? call : answer] }), getStreamedResponse: () => { throw new Error('unused') } };
const result = await run(new Agent({ name: 'coder', model, tools: codeModeTools(session) }), 'What is 6 * 7?');
console.log(result.newItems.find((item) => item.type === 'tool_call_output_item').output, result.finalOutput);
await session.shutdown();
