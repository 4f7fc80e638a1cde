// `codecell/host`: the client for codecell-host, the server, and the protocol. (The in-process
// pair for tests is `codecell/testing`.)
export { HostClient } from './client.js';
export type { HostClientOptions } from './client.js';
// A type only: its sessions come from HostClient.createSession.
export type { RemoteSession, RemoteSessionOptions } from './remote-session.js';
export { createHost } from './server.js';
export { SessionBuilder, BuiltSession } from './session-builder.js';
export type { McpServerConfig, McpHttpServer, McpStdioServer, SessionBuilderOptions, SourceTool, ToolSource } from './session-builder.js';
export type { Host, HostOptions } from './server.js';
export { Methods, PROTOCOL_VERSION, JsonRpcErrors, wireCodeOf, errorFromWire } from './protocol.js';
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
} from './protocol.js';
