// OAuth for HTTP upstreams (McpHttpAuth): the MCP SDK's own providers for the client credentials
// grant (client_secret_basic, private_key_jwt), with their tokens kept in a file only its user
// can read, per issuer and client, so a restart does not ask the authorization server again while
// a token is good. The SDK's transport finds the authorization server from the upstream's
// protected-resource metadata, sends the token, and on a 401 gets a new one and retries once.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
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
  if (auth.type === 'authorization_code') throw new TypeError('authorization_code needs SignInProvider.start');
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
class TokenFile<T = OAuthTokens> {
  readonly #path: string;
  readonly #key: string;

  constructor(path: string, key: string) {
    this.#path = path;
    this.#key = key;
  }

  async read(): Promise<T | undefined> {
    return (await this.#all())[this.#key];
  }

  async write(tokens: T | undefined): Promise<void> {
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

  async #all(): Promise<Record<string, T>> {
    try {
      const parsed = JSON.parse(await readFile(this.#path, 'utf8')) as unknown;
      return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, T>) : {};
    } catch {
      return {}; // none yet, or not ours to read: tokens are asked for again
    }
  }
}

/** How long a person has to sign in before the upstream's connection fails. */
const SIGN_IN_MS = 5 * 60_000;

/**
 * Authorization code with PKCE for a person at a browser: the URL is announced (stderr), and the
 * code arrives at a loopback listener started for it. Tokens and the registered client are kept in
 * the token file; with a refresh token there, no one is asked again.
 */
export class SignInProvider implements OAuthClientProvider {
  readonly #file: TokenFile;
  readonly #clientFile: TokenFile<OAuthClientInformationMixed>;
  readonly #auth: Extract<McpHttpAuth, { type: 'authorization_code' }>;
  readonly #announce: (url: string) => void;
  readonly #listener: Server;
  #verifier = '';
  #state = '';
  #code = Promise.withResolvers<string>();

  private constructor(
    auth: Extract<McpHttpAuth, { type: 'authorization_code' }>,
    key: string,
    announce: (url: string) => void,
    listener: Server,
  ) {
    this.#auth = auth;
    this.#file = new TokenFile(auth.tokenFile ?? DEFAULT_TOKEN_FILE, key);
    this.#clientFile = new TokenFile<OAuthClientInformationMixed>(
      auth.tokenFile ?? DEFAULT_TOKEN_FILE,
      `${key} client`,
    );
    this.#announce = announce;
    this.#listener = listener;
    listener.on('request', (request, response) => this.#callback(request, response));
    this.#code.promise.catch(() => {});
  }

  /** A provider whose loopback listener is up (closed by close()). */
  static async start(
    auth: Extract<McpHttpAuth, { type: 'authorization_code' }>,
    key: string,
    announce: (url: string) => void,
  ): Promise<SignInProvider> {
    const listener = createServer();
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(auth.redirectPort ?? 0, '127.0.0.1', () => resolve());
    });
    listener.unref();
    return new SignInProvider(auth, key, announce, listener);
  }

  get redirectUrl(): string {
    return `http://127.0.0.1:${(this.#listener.address() as AddressInfo).port}/callback`;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'codecell',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this.#auth.clientSecret === undefined ? 'none' : 'client_secret_basic',
      ...(this.#auth.scope === undefined ? {} : { scope: this.#auth.scope }),
    };
  }

  state(): string {
    this.#state = randomBytes(16).toString('hex');
    return this.#state;
  }

  async clientInformation(): Promise<OAuthClientInformationMixed | undefined> {
    if (this.#auth.clientId !== undefined)
      return {
        client_id: this.#auth.clientId,
        ...(this.#auth.clientSecret === undefined ? {} : { client_secret: this.#auth.clientSecret }),
      };
    return this.#clientFile.read();
  }

  async saveClientInformation(information: OAuthClientInformationMixed): Promise<void> {
    await this.#clientFile.write(information);
  }

  tokens(): Promise<OAuthTokens | undefined> {
    return this.#file.read();
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    await this.#file.write(tokens);
  }

  redirectToAuthorization(url: URL): void {
    this.#code = Promise.withResolvers<string>();
    this.#code.promise.catch(() => {});
    this.#announce(url.toString());
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier;
  }

  codeVerifier(): string {
    return this.#verifier;
  }

  async invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    if (scope === 'all' || scope === 'tokens') await this.#file.write(undefined);
    if (scope === 'all' || scope === 'client') await this.#clientFile.write(undefined);
  }

  /** The code the browser brings back, within SIGN_IN_MS. */
  async code(signal?: AbortSignal): Promise<string> {
    const late = AbortSignal.timeout(SIGN_IN_MS);
    const either = signal === undefined ? late : AbortSignal.any([signal, late]);
    const stop = Promise.withResolvers<never>();
    const abort = (): void => stop.reject(new Error('no one signed in within 5 minutes'));
    either.addEventListener('abort', abort, { once: true });
    try {
      return await Promise.race([this.#code.promise, stop.promise]);
    } finally {
      either.removeEventListener('abort', abort);
    }
  }

  close(): void {
    this.#listener.close();
  }

  #callback(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.redirectUrl);
    const code = url.searchParams.get('code');
    const fits = url.pathname === '/callback' && code !== null && url.searchParams.get('state') === this.#state;
    response.writeHead(fits ? 200 : 400, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end(fits ? 'Signed in: codecell has what it needs. You may close this tab.\n' : 'Not a sign-in answer.\n');
    if (fits) this.#code.resolve(code);
  }
}
