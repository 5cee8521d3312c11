// Bearer tokens an http source accepts: the lines of its Secret entry (blank lines and
// lines starting with # ignored). Compared in constant time on their digests.
import crypto from 'node:crypto';

export function parseTokens(text: string): Buffer[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'))
    .map((token) => crypto.createHash('sha256').update(token).digest());
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

export function tokenAccepted(presented: string, accepted: readonly Buffer[]): boolean {
  const digest = crypto.createHash('sha256').update(presented).digest();
  let ok = false;
  for (const candidate of accepted) ok = crypto.timingSafeEqual(digest, candidate) || ok;
  return ok;
}

/** Parses a Secret's token list once per distinct text, not once per request. */
export function tokenCache(): (text: string) => Buffer[] {
  let last: { text: string; tokens: Buffer[] } | undefined;
  return (text) => {
    if (last?.text !== text) last = { text, tokens: parseTokens(text) };
    return last.tokens;
  };
}
