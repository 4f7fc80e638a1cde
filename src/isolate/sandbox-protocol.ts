// The sandbox's contract: the globals a cell sees (as declared to the model) and the messages
// behind them between the sandbox (sandbox/prelude.ts) and the host, as one table each way.
// Each kind lists the `typeof` of its arguments (or the strings allowed); both sides take their
// types from here, so a kind or an argument the other side does not expect fails to compile.
// What arrives from the sandbox is untrusted: decodeSandboxMessage() is the one place that checks it.

/** How an image may be detailed (SPEC §5); the `image` message carries one of these. */
export const IMAGE_DETAILS = ['auto', 'low', 'high', 'original'] as const;
/** How closely a model should look at an image (OpenAI's image detail). */
export type ImageDetail = 'auto' | 'low' | 'high' | 'original';
IMAGE_DETAILS satisfies readonly ImageDetail[];

const IMAGE_DETAIL_UNION = IMAGE_DETAILS.map((detail) => `'${detail}'`).join(' | ');
const MCP_IMAGE_BLOCK =
  "{ type: 'image'; data: string; mimeType: string; detail?: ImageDetail; " +
  "_meta?: { 'codex/imageDetail'?: ImageDetail } }";

/** The sandbox globals as a TypeScript declaration for the model (renderToolDeclarations). */
export const SANDBOX_GLOBALS_DECLARATION = `type ImageDetail = ${IMAGE_DETAIL_UNION};
/** The tools above as { name, description } (name as written after \`tools.\`). */
declare const ALL_TOOLS: readonly { readonly name: string; readonly description: string }[];
/** Appends a text item to the cell's output (non-strings are shown as JSON). */
declare function text(value?: unknown): void;
/** Appends an image: a data: URL, { image_url, detail? }, or an MCP image block. */
declare function image(
  image:
    | string
    | { image_url: string; detail?: ImageDetail }
    | ${MCP_IMAGE_BLOCK},
  detail?: ImageDetail,
): void;
/** Sends a progress message to the agent while the cell runs (not part of the output). */
declare function notify(value: unknown): void;
/** Keeps a JSON value for later cells of this session. */
declare function store(key: string, value: unknown): void;
/** A copy of a value stored by an earlier cell, or undefined. */
declare function load(key: string): unknown;
/** Asks the agent's current wait to return now with the output so far. */
declare function yield_control(): void;
/** Ends the cell successfully at once. */
declare function exit(): never;
declare function setTimeout(callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]): number;
declare function clearTimeout(id?: number): void;
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};
`;

/** What an image item may be (SPEC §5): a data: URL of an image MIME type. */
export function isImageDataUrl(url: string): boolean {
  return /^data:image\/[a-z0-9.+-]+(;[^,]*)?,/i.test(url);
}

/** Sandbox → host, through the one host function the prelude holds. */
export const TO_HOST = {
  text: ['string'],
  /** A top-level `return value`: the value as a text item shows it, and its JSON ('' when it is none). */
  returned: ['string', 'string'],
  /** data: URL, detail */
  image: ['string', IMAGE_DETAILS],
  notify: ['string'],
  /** call id, tool index, input as JSON text */
  tool: ['string', 'number', 'string'],
  /** key, value as JSON text */
  store: ['string', 'string'],
  yield: [],
  /** The module settled normally; the ids of the tool calls it had not received ("tool-1,tool-2"). */
  done: ['string'],
  /** exit() was called; the unreceived tool calls as for done. */
  exit: ['string'],
  /** The module threw, or a timer callback did: the error's description, the unreceived calls. */
  fault: ['string', 'string'],
  /** timer id, delay in ms */
  timer: ['number', 'number'],
  clearTimer: ['number'],
  /** A handler was attached to a rejected promise: the rejection's key (see sandbox/rejections.ts). */
  handled: ['string'],
  /** Clock readings the cell made since its last message, as "t1,t2,…" (sandbox/journal.ts). */
  clock: ['string'],
} as const;

/** Host → sandbox, through the prelude's `receive`. */
export const TO_SANDBOX = {
  /** call id, ok, result JSON text (ok) or error message, error kind ('' for Error, or 'TypeError', 'RangeError') */
  settle: ['string', 'boolean', 'string', 'string'],
  /** timer id */
  timer: ['number'],
  /**
   * The cell's tools, stored values and limits, as JSON text, before its module is compiled; its
   * journal's seed and clock (sandbox/journal.ts) as JSON text, or '' when it keeps none; and
   * whether its thread may wait for a delivery after a call (false: each enters as a task of its
   * own, for a cell that may run again, ADR 23).
   */
  configure: ['string', 'string', 'boolean'],
  /**
   * A task ended with a rejection nobody handled: from now on the sandbox watches for handlers
   * attached late (sandbox/rejections.ts), which it does not before, so `await` keeps V8's async
   * stack frames.
   */
  watchRejections: [],
} as const;

interface TypeNames {
  string: string;
  number: number;
  boolean: boolean;
}
type Shape = readonly (keyof TypeNames | readonly string[])[];
type Shapes = Record<string, Shape>;
type Arg<T> = T extends keyof TypeNames ? TypeNames[T] : T extends readonly string[] ? T[number] : never;
type Args<S extends Shape> = { -readonly [I in keyof S]: Arg<S[I]> };
type Messages<T extends Shapes> = { [K in keyof T]: [kind: K, ...args: Args<T[K]>] }[keyof T];

export type ToHostMessage = Messages<typeof TO_HOST>;
export type ToSandboxMessage = Messages<typeof TO_SANDBOX>;
export type ToHostKind = keyof typeof TO_HOST;
/** The host function as the prelude sees it. */
export type HostSend = (...message: ToHostMessage) => void;
/** The prelude's entry point as the host calls it. */
export type SandboxReceive = (...message: ToSandboxMessage) => void;

const shapes: Shapes = TO_HOST;

/**
 * Checks a message from the sandbox against TO_HOST: a known kind with arguments of the listed
 * types (extra ones are dropped). Anything else is undefined: a cell that forges messages only
 * loses them.
 */
export function decodeSandboxMessage(args: readonly unknown[]): ToHostMessage | undefined {
  const kind = args[0];
  if (typeof kind !== 'string' || !Object.hasOwn(shapes, kind)) return undefined;
  const shape = shapes[kind] ?? [];
  // Indexed, without copies: this runs for every message of every cell.
  for (let index = 0; index < shape.length; index++) {
    const expected = shape[index];
    const arg = args[index + 1];
    if (typeof expected === 'string' ? typeof arg !== expected : !expected?.includes(arg as string)) return undefined;
  }
  return (args.length === shape.length + 1 ? args : args.slice(0, shape.length + 1)) as ToHostMessage;
}
