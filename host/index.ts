// `codecell/host`: the client for codecell-host, the server, and the protocol. (The in-process
// pair for tests is `codecell/testing`.)
export { HostClient } from './client/client.js';
export type { HostClientOptions } from './client/client.js';
export type { LivenessOptions } from './client/link.js';
export type { HostAddress, NetworkOptions } from './client/network.js';
// Sessions come from HostClient.createSession and SessionBuilder.start: their types only (values
// are the classes an embedder constructs or checks with instanceof).
export type { RemoteSession } from './client/remote-session.js';
export type { RemoteSessionOptions } from './client/open-session.js';
export { createHost } from './server/server.js';
export { SessionBuilder } from './tools/session-builder.js';
export type {
  BuiltSession,
  McpServerConfig,
  McpHttpServer,
  McpStdioServer,
  SessionBuilderOptions,
  SourceTool,
  ToolSource,
} from './tools/session-builder.js';
export type { Host, HostOptions } from './server/server.js';
export { Methods, PROTOCOL_VERSION, JsonRpcErrors, wireCodeOf, errorFromWire } from './wire/protocol.js';
export type {
  CellExecuteResult,
  Direction,
  HostLoad,
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
  WireErrorData,
  WireParams,
} from './wire/protocol.js';
