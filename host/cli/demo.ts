// `npm start`: a self-contained demonstration. It spawns codecell-host and runs cells against a
// small in-memory tool set, printing what happens and how long it takes.
import { HostClient } from '../client/client.js';
import type { CellEvent, JsonValue, NestedToolCall, SessionRuntimeDelegate, ToolDefinition } from '../../src/index.js';

const CATALOGUE = [
  { sku: 'kb-01', name: 'Mechanical keyboard', priceEur: 89 },
  { sku: 'ms-02', name: 'Wireless mouse', priceEur: 35 },
  { sku: 'mn-27', name: '27" monitor', priceEur: 249 },
  { sku: 'hd-05', name: 'Noise-cancelling headphones', priceEur: 179 },
];
const RATES: Record<string, number> = { EUR: 1, USD: 1.08, NOK: 11.7, JPY: 162 };

const TOOLS: ToolDefinition[] = [
  {
    name: 'search',
    namespace: 'shop',
    description: 'Searches the product catalogue',
    inputSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
  },
  {
    name: 'convert',
    description: 'Converts an amount between currencies',
    inputSchema: {
      type: 'object',
      properties: { amount: { type: 'number' }, from: { type: 'string' }, to: { type: 'string' } },
      required: ['amount', 'from', 'to'],
    },
  },
  {
    name: 'report',
    description: 'Builds a slow sales report (honours cancellation)',
    inputSchema: { type: 'object', properties: { seconds: { type: 'number' } } },
  },
];

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

const delegate: SessionRuntimeDelegate = {
  async invokeTool(call: NestedToolCall, signal: AbortSignal): Promise<JsonValue> {
    const input = call.input as Record<string, JsonValue>;
    switch (call.tool.name) {
      case 'search': {
        await sleep(30, signal);
        const q = String(input.q).toLowerCase();
        return CATALOGUE.filter((item) => item.name.toLowerCase().includes(q));
      }
      case 'convert': {
        await sleep(20, signal);
        const from = RATES[String(input.from)];
        const to = RATES[String(input.to)];
        if (from === undefined || to === undefined)
          throw new Error(`unknown currency ${String(input.from)} or ${String(input.to)}`);
        return { amount: Math.round((Number(input.amount) / from) * to * 100) / 100, currency: String(input.to) };
      }
      case 'report':
        await sleep(Number(input.seconds ?? 60) * 1000, signal);
        return { rows: 42 };
      default:
        throw new Error(`no tool ${call.tool.name}`);
    }
  },
  async notify(notification) {
    console.log(`    notify  • ${notification.text}`);
  },
};

function show(event: CellEvent, ms: number): void {
  const detail =
    event.kind === 'completed' && event.error !== undefined
      ? ` error: ${event.error.split('\n')[0] ?? ''}`
      : event.kind === 'terminated'
        ? ` reason: ${event.reason ?? ''}`
        : event.kind === 'pending'
          ? ` outstanding: ${event.pendingToolCallIds.join(', ')}`
          : '';
  console.log(`    ${event.kind.padEnd(10)} after ${ms.toFixed(1)} ms${detail}`);
  for (const item of event.items)
    console.log(`    output  ${item.type === 'text' ? item.text : `[image ${item.detail}]`}`);
}

async function step<T>(title: string, run: () => Promise<T>): Promise<T> {
  console.log(`\n▶ ${title}`);
  return run();
}

const started = performance.now();
const client = await HostClient.spawn({ stderr: 'inherit' });
console.log(
  `codecell demo — codecell-host pid ${client.pid ?? '?'} ready in ${(performance.now() - started).toFixed(0)} ms`,
);
const session = await client.createSession(delegate, { tools: TOOLS });

const timed = async (
  request: Parameters<typeof session.execute>[0],
  observe?: Parameters<typeof session.execute>[1],
): Promise<{ cellId: string; event: CellEvent; ms: number }> => {
  const start = performance.now();
  const { cellId, initialEvent } = await session.execute(request, observe);
  const event = await initialEvent;
  return { cellId, event, ms: performance.now() - start };
};

await step('Parallel tool calls: search the catalogue and convert prices at once', async () => {
  const { event, ms } = await timed({
    source: `const [keyboards, monitors] = await Promise.all([
  tools.shop__search({ q: 'keyboard' }),
  tools.shop__search({ q: 'monitor' }),
]);
const items = [...keyboards, ...monitors];
const prices = await Promise.all(
  items.map((item) => tools.convert({ amount: item.priceEur, from: 'EUR', to: 'NOK' })),
);
items.forEach((item, i) => text(\`\${item.name}: \${prices[i].amount} NOK\`));`,
  });
  show(event, ms);
});

await step('Notifications and stored values: progress while running, a value for the next cell', async () => {
  const { event, ms } = await timed({
    source: `for (const q of ['mouse', 'headphones']) {
  const found = await tools.shop__search({ q });
  notify(\`searched "\${q}": \${found.length} hit(s)\`);
}
store('budgetEur', 300); text('stored a budget of 300 EUR');`,
  });
  show(event, ms);
  const next = await timed({ source: `text(\`the next cell reads a budget of \${load('budgetEur')} EUR\`)` });
  show(next.event, next.ms);
});

await step('Yield and resume: yield_control() returns early; the next wait gets the rest', async () => {
  const { cellId, event, ms } = await timed(
    {
      source:
        `text('first half'); yield_control(); await tools.convert({ amount: 1, from: 'EUR', ` +
        `to: 'USD' }); text('second half')`,
    },
    { kind: 'yieldAfter', ms: 10_000 },
  );
  show(event, ms);
  const start = performance.now();
  show(await session.observe(cellId, { kind: 'yieldAfter', ms: 10_000 }), performance.now() - start);
});

await step('A limit: a cell over its output limit is terminated, its output so far kept', async () => {
  const { event, ms } = await timed({
    source: `for (let i = 0; ; i++) text(\`line \${i}: \${'x'.repeat(200)}\`.slice(0, 12))`,
    limits: { maxOutputBytes: 60 },
  });
  show(event, ms);
});

await step('Terminate while a tool is still working: the slow report is cancelled', async () => {
  const { cellId, event, ms } = await timed(
    { source: `text('asking for a 60 s report'); const r = await tools.report({ seconds: 60 }); text(r.rows)` },
    { kind: 'pendingFrontier' },
  );
  show(event, ms);
  const start = performance.now();
  show(await session.terminate(cellId), performance.now() - start);
});

await step('A runaway loop: yieldAfter returns on time, terminate stops it', async () => {
  const { cellId, event, ms } = await timed(
    { source: 'text("spinning"); while (true) {}' },
    { kind: 'yieldAfter', ms: 200 },
  );
  show(event, ms);
  const start = performance.now();
  show(await session.terminate(cellId), performance.now() - start);
});

await session.shutdown();
await client.close();
console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
