// `codecell/host`: the client for codecell-host, the server, and the protocol types.
export { HostClient } from './client.js';
export type { HostClientOptions } from './client.js';
export { RemoteSession } from './remote-session.js';
export type { RemoteSessionOptions } from './remote-session.js';
export { createHost } from './server.js';
export type { Host, HostOptions } from './server.js';
export { connectInProcess } from './in-process.js';
export type { InProcessHost } from './in-process.js';
export { Methods, PROTOCOL_VERSION, JsonRpcErrors, wireCodeOf, errorFromWire } from './protocol.js';
export type {
  CellClosedParams,
  CellEventParams,
  CellExecuteParams,
  CellExecuteResult,
  CellNotifyParams,
  CellObserveParams,
  CellTerminateParams,
  InitializeParams,
  InitializeResult,
  SessionCreateParams,
  SessionCreateResult,
  SessionId,
  SessionShutdownParams,
  ToolInvokeParams,
  ToolInvokeResult,
  WireErrorData,
} from './protocol.js';
