import { SessionBuilder } from 'codecell/host';

const session = await new SessionBuilder()
  .withMcpServer({ name: 'everything', command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything', 'stdio'], stderr: 'ignore' })
  .withTools([{ name: 'add', inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } }], {
    invokeTool: async ({ input }) => input.a + input.b,
  })
  .start();

const cell = await session.execute({
  source: `text(await tools.everything__echo({ message: "hi" }));
text(String(await tools.add({ a: 2, b: 3 })));
try { await tools.add({ a: "2", b: 3 }) } catch (e) { text(e.name + ": " + e.message) }`,
});
console.log(await cell.readText());
const replayed = [];
for await (const event of session.events(cell.cellId, { from: 'start' })) replayed.push(event.type);
console.log(replayed.join(' '));
await session.shutdown(); // also stops the MCP server
