// OAuth for HTTP upstreams (McpHttpAuth): the MCP SDK's own providers for the client credentials
// grant (client_secret_basic, private_key_jwt), with their tokens kept in a file only its user
// can read, per issuer and client, so a restart does not ask the authorization server again while
// a token is good. The SDK's transport finds the authorization server from the upstream's
// protected-resource metadata, sends the token, and on a 401 gets a new one and retries once.
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { McpHttpAuth } from './mcp-config.js';

/** Where tokens are kept unless the auth names a file. */
export const DEFAULT_TOKEN_FILE = join(homedir(), '.codecell', 'oauth-tokens.json');

/** What an upstream's auth adds to its transport: a static header, or an OAuth provider. */
export function authOf(
  auth: McpHttpAuth | undefined,
  url: string,
): { headers?: Record<string, string>; authProvider?: OAuthClientProvider } {
  if (auth === undefined) return {};
  if (auth.type === 'bearer') return { headers: { Authorization: `Bearer ${auth.token}` } };
  const pinned = auth.issuer === undefined ? {} : { expectedIssuer: auth.issuer };
  const scope = auth.scope === undefined ? {} : { scope: auth.scope };
  const provider =
    auth.type === 'client_credentials'
      ? new ClientCredentialsProvider({
          clientId: auth.clientId,
          clientSecret: auth.clientSecret,
          clientName: 'codecell',
          ...scope,
          ...pinned,
        })
      : new PrivateKeyJwtProvider({
          clientId: auth.clientId,
          privateKey: privateKeyOf(auth.privateKey),
          algorithm: auth.algorithm,
          clientName: 'codecell',
          ...scope,
          ...pinned,
        });
  const file = new TokenFile(auth.tokenFile ?? DEFAULT_TOKEN_FILE, `${auth.issuer ?? url} ${auth.clientId}`);
  return { authProvider: withStoredTokens(provider, file) };
}

/** A PEM key as is; a JWK given as JSON text as its object. */
function privateKeyOf(key: string): string | Record<string, unknown> {
  return key.trimStart().startsWith('{') ? (JSON.parse(key) as Record<string, unknown>) : key;
}

/**
 * The provider with its tokens read from and written to `file` (its own ones first: the SDK
 * saves what the authorization server just gave it).
 */
function withStoredTokens(provider: OAuthClientProvider, file: TokenFile): OAuthClientProvider {
  let stored: OAuthTokens | undefined | null = null; // null: not read yet
  return new Proxy(provider, {
    get(target, property, receiver) {
      if (property === 'tokens')
        return async () => {
          const own = await target.tokens();
          if (own !== undefined) return own;
          if (stored === null) stored = await file.read();
          return stored;
        };
      if (property === 'saveTokens')
        return async (tokens: OAuthTokens) => {
          await target.saveTokens(tokens);
          stored = tokens;
          await file.write(tokens);
        };
      if (property === 'invalidateCredentials')
        return async (scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') => {
          await target.invalidateCredentials?.(scope);
          if (scope === 'all' || scope === 'tokens') {
            stored = undefined;
            await file.write(undefined);
          }
        };
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** One entry of a JSON file of tokens, by key; the file and its folder are readable only by their user. */
class TokenFile {
  readonly #path: string;
  readonly #key: string;

  constructor(path: string, key: string) {
    this.#path = path;
    this.#key = key;
  }

  async read(): Promise<OAuthTokens | undefined> {
    return (await this.#all())[this.#key];
  }

  async write(tokens: OAuthTokens | undefined): Promise<void> {
    const all = await this.#all();
    if (tokens === undefined) delete all[this.#key];
    else all[this.#key] = tokens;
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    // Written whole, then moved into place: a crash never leaves half a file.
    const next = `${this.#path}.${process.pid}.tmp`;
    await writeFile(next, JSON.stringify(all, null, 2), { mode: 0o600 });
    await chmod(next, 0o600);
    await rename(next, this.#path);
  }

  async #all(): Promise<Record<string, OAuthTokens>> {
    try {
      const parsed = JSON.parse(await readFile(this.#path, 'utf8')) as unknown;
      return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, OAuthTokens>) : {};
    } catch {
      return {}; // none yet, or not ours to read: tokens are asked for again
    }
  }
}
