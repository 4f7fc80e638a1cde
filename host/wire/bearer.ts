// The bearer token every listening transport checks (codecell-host --listen, codecell mcp
// --http): `Authorization: Bearer <token>`, compared in constant time (both sides are hashed
// first, so neither the content nor the length of the expected token leaks through timing).
import { createHash, timingSafeEqual } from 'node:crypto';

export class BearerToken {
  readonly #expected: Buffer;

  constructor(token: string) {
    this.#expected = digest(token);
  }

  /** Whether the Authorization header carries the token. */
  accepts(authorization: string | undefined): boolean {
    const header = authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    return timingSafeEqual(digest(given), this.#expected) && given !== '';
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
