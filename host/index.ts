// `codecell/host`: the client for codecell-host, the server, and the protocol. (The in-process
// pair for tests is `codecell/testing`.)
export { HostClient } from './client/client.js';
export type { HostClientOptions } from './client/client.js';
export type { HostAddress, NetworkOptions } from './client/network.js';
// A type only: its sessions come from HostClient.createSession.
export type { RemoteSession } from './client/remote-session.js';
export type { RemoteSessionOptions } from './client/open-session.js';
export { createHost } from './server/server.js';
export { SessionBuilder, BuiltSession } from './tools/session-builder.js';
export type {
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
  InitializeResult,
  MethodSpec,
  ParamsOf,
  ResultOf,
  SessionCreateResult,
  SessionId,
  ToolInvokeResult,
  WireErrorData,
  WireParams,
} from './wire/protocol.js';
