import { SessionRuntime } from 'codecell';
import { HostClient } from 'codecell/host';

const delegate = { invokeTool: async () => null, notify: async () => {} };
const session = new SessionRuntime(delegate);
await (await session.execute({ source: 'store("n", 41)' })).initialEvent;
const snapshot = await session.suspend(); // waits for running cells ({ signal } ends them)
const client = await HostClient.spawn({ processes: 1 }); // any host, any process
const resumed = await client.resumeSession(snapshot, delegate); // or SessionRuntime.resume(…)
const { cellId, initialEvent } = await resumed.execute({ source: 'text(load("n") + 1)' });
console.log(cellId, (await initialEvent).items);
await client.close();
