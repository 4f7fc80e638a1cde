// Values shared by the runtime, the host, the client and the command line.
import { createRequire } from 'node:module';
import type { ObserveMode } from './types.js';

/** codecell's version, as its package.json says (reported by the host, the client and the MCP bridge). */
export const CODECELL_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** How long `execute` waits for a cell before it reports `yielded`, unless told otherwise. */
export const DEFAULT_YIELD_MS = 10_000;
export const DEFAULT_OBSERVE: ObserveMode = { kind: 'yieldAfter', ms: DEFAULT_YIELD_MS };
