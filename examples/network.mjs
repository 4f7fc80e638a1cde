// First, a host: CODECELL_TOKEN=secret npx codecell-host --listen 127.0.0.1:7077
import { HostClient } from 'codecell/host';

const delegate = { invokeTool: async ({ input }) => input.a + input.b, notify: async () => {} };
const client = await HostClient.connect({ hosts: ['ws://127.0.0.1:7077'], token: 'secret' });
const session = await client.createSession(delegate, { tools: [{ name: 'add' }] });
const cell = await session.execute({ source: 'text(await tools.add({ a: 1, b: 2 }))' });
console.log(await cell.readText(), 'on', session.host);
await client.close(); // its sessions end; the host serves others
