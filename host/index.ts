// `codecell/host`: codecell-host's client, the session builder, the server, and the protocol,
// grouped by role. (The in-process pair for tests is `codecell/testing`.)

// The client: HostClient spawns or reaches hosts and creates sessions on them. Sessions come from
// HostClient.createSession and SessionBuilder.start: their types only.
export { HostClient } from './client/client.js';
export type { HostClientOptions } from './client/client.js';
export type { LivenessOptions, RehomeOptions } from './client/link.js';
export type { HostAddress, NetworkOptions } from './client/network.js';
export type { RemoteSession } from './client/remote-session.js';
export type { RemoteSessionOptions } from './client/session-create.js';

// Building a session from tool sources (own tools, MCP servers), limits and a setup cell.
export { SessionBuilder } from './tools/session-builder.js';
export type {
  BuiltSession,
  McpServerConfig,
  McpHttpAuth,
  McpHttpServer,
  McpStdioServer,
  SessionBuilderOptions,
  SourceTool,
  ToolSource,
} from './tools/session-builder.js';

// The server: codecell-host's protocol on any pair of streams.
export { createHost } from './server/server.js';
export type { Host, HostOptions } from './server/server.js';

// The protocol (docs/protocol.md): the method table, its version, and its errors.
export { Methods, PROTOCOL_VERSION, JsonRpcErrors, wireCodeOf, errorFromWire } from './wire/protocol.js';
export type {
  CellExecuteResult,
  CellJournalPart,
  WireDelivery,
  WireJournalUpdate,
  WireStart,
  Direction,
  HostLoad,
  HostTiming,
  HostPingResult,
  InCell,
  InitializeResult,
  InSession,
  MethodKind,
  MethodSpec,
  ParamsIssue,
  ParamsSchema,
  ParamsOf,
  ResultOf,
  SessionCreateResult,
  SessionId,
  ToolInvokeResult,
  Traced,
  WireCellEvent,
  WireErrorData,
  WireParams,
} from './wire/protocol.js';
