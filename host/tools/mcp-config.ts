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
  /** How codecell gets a token for it (OAuth 2.1, as the MCP authorization spec says), if it needs one. */
  auth?: McpHttpAuth;
}

/**
 * OAuth for an HTTP upstream, machine to machine: a static bearer token, or the client
 * credentials grant with a client secret (`client_secret_basic`) or a signed JWT
 * (`private_key_jwt`, RFC 7523). The authorization server is found from the upstream's
 * protected-resource metadata; `issuer` pins it (credentials are never sent to another). Tokens
 * are kept in `tokenFile` (only its user may read it; never in a cell, never logged), and a 401
 * mid-session gets a new one once.
 */
export type McpHttpAuth =
  | { type: 'bearer'; token: string }
  | {
      type: 'client_credentials';
      clientId: string;
      clientSecret: string;
      issuer?: string;
      scope?: string;
      tokenFile?: string;
    }
  | {
      /**
       * A person signs in: codecell prints the authorization URL and listens on a loopback
       * redirect (`redirectPort`, default any free port) for the code (PKCE S256). The client is
       * registered dynamically unless `clientId` is given. Refresh tokens are kept in `tokenFile`.
       */
      type: 'authorization_code';
      clientId?: string;
      clientSecret?: string;
      redirectPort?: number;
      issuer?: string;
      scope?: string;
      tokenFile?: string;
    }
  | {
      type: 'private_key_jwt';
      clientId: string;
      /** The PEM (or JWK JSON) private key. */
      privateKey: string;
      /** Its JWS algorithm: ES256, RS256, … */
      algorithm: string;
      issuer?: string;
      scope?: string;
      tokenFile?: string;
    };

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
