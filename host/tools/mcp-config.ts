// How an MCP server is named as a tool source (SessionBuilder.withMcpServer, `codecell mcp`
// upstreams): types only, with no import of the MCP SDK, so the public declarations compile in a
// project that does not install that optional peer (mcp-tools.ts is the module that uses it).

/** An MCP server started as a child process, talking over its stdio. */
export interface McpStdioServer {
  /** The tools' namespace in cells: `tools.<name>__<tool>`. */
  name: string;
  command: string;
  args?: string[];
  /** Added to the environment passed through (this process's, by default all of it). */
  env?: Record<string, string>;
  cwd?: string;
  /** Where the server's stderr goes. Default 'inherit'. */
  stderr?: 'inherit' | 'ignore' | 'pipe';
}

/** An MCP server reached over Streamable HTTP. */
export interface McpHttpServer {
  name: string;
  url: string | URL;
  headers?: Record<string, string>;
}

/**
 * An MCP server whose tools a session offers as `tools.<name>__<tool>`: a command (stdio) or a URL (Streamable HTTP).
 */
export type McpServerConfig = (McpStdioServer | McpHttpServer) & {
  /**
   * Check tool input against each tool's inputSchema before calling (default true); a function
   * decides per tool (by its name on the server).
   */
  validateInput?: boolean | ((tool: string) => boolean);
  /**
   * Tools (by their name on the server; `true`: all) whose calls need a person's approval first:
   * the call pauses its cell (CellInterrupt, payload `{ approve: 'tools.<name>__<tool>', input }`)
   * and is made only once the pause is approved (`codecell mcp` asks through MCP elicitation).
   */
  requiresApproval?: boolean | string[];
};
