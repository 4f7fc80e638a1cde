import { HostClient } from 'codecell/host';

const delegate = { invokeTool: async ({ input }) => input.a + input.b, notify: async () => {} };
const client = await HostClient.spawn(); // starts codecell-host processes (respawn: true)
const session = await client.createSession(delegate, { tools: [{ name: 'add' }], setupSource: 'notify("ready")' });
const { initialEvent } = await session.execute({ source: 'text(await tools.add({ a: 1, b: 2 }))' });
console.log((await initialEvent).items, session.host.startsWith('process'));
await client.close(); // shuts its sessions down; the hosts exit 0
