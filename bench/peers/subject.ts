// What the peer benchmark drives: a runtime that opens sessions whose cells call one tool, `echo`.
import { HostClient, type HostClientOptions } from '../../host/index.js';
import { SessionRuntime, type CellEvent, type CodeCellSession, type SessionRuntimeDelegate } from '../../src/index.js';
import { quietLogger } from '../common.js';

/** The tool every benchmark cell calls (`tools.echo`); what it returns goes back to the cell. */
export type ToolHandler = (input: unknown) => unknown;

export interface BenchSession {
  /** Runs a cell to its end: its text items, and its error if it failed. */
  run(source: string): Promise<{ text: string[]; error: string | undefined }>;
  close(): Promise<void>;
}

export interface BenchSubject {
  readonly name: string;
  openSession(tool: ToolHandler): Promise<BenchSession>;
  close(): Promise<void>;
}

const tools = [{ name: 'echo' }];

function delegateOf(tool: ToolHandler): SessionRuntimeDelegate {
  return { invokeTool: async (call) => (await tool(call.input)) as never, notify: async () => {} };
}

function benchSession(session: CodeCellSession): BenchSession {
  return {
    run: async (source) => {
      const event: CellEvent = await (await session.execute({ source })).initialEvent;
      if (event.kind !== 'completed') throw new Error(`a benchmark cell ended ${event.kind}`);
      return { text: event.items.flatMap((item) => (item.type === 'text' ? [item.text] : [])), error: event.error };
    },
    close: () => session.shutdown(),
  };
}

/** codecell embedded: one SessionRuntime per session. */
export const inProcess: BenchSubject = {
  name: 'codecell in-process',
  openSession: async (tool) => benchSession(new SessionRuntime(delegateOf(tool), { tools, logger: quietLogger })),
  close: async () => {},
};

/** codecell-host child processes behind one HostClient. */
export async function overStdio(name: string, options: HostClientOptions = {}): Promise<BenchSubject> {
  const client = await HostClient.spawn({ logger: quietLogger, stderr: 'ignore', ...options });
  return {
    name,
    openSession: async (tool) => benchSession(await client.createSession(delegateOf(tool), { tools })),
    close: () => client.close(),
  };
}
